"""Shared machinery of the vector-quantizer layers."""

import math

import keras
import tensorflow as tf

from vqkeras.quantizers.codebook_initializer import CodebookInitializer
from vqkeras.quantizers.quantizer import Quantizer
from vqkeras.quantizers.quantizer import all_gather_rows
from vqkeras.quantizers.quantizer import all_reduce_sum
from vqkeras.quantizers.quantizer import entropy
from vqkeras.utils.removed_options import pop_removed_option
from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int
from vqkeras.utils.validation import check_seed

# Largest distance matrix (rows × codes, float32 elements) computed in one piece: 2**24 elements = 64 MiB.
DEFAULT_MAX_DISTANCE_ELEMENTS = 2**24
# The nearest-code search works in chunks of about CHUNK_ELEMENTS scores (16 MiB) that stay in cache between the
# matmul and the argmin, of at least CHUNK_MIN_ROWS rows (fewer rows make a slow matmul), within
# max_distance_elements.
CHUNK_ELEMENTS = 2**22
CHUNK_MIN_ROWS = 512
# The argmin over a row of scores looks at the minima of groups of up to ARGMIN_GROUP codes first.
ARGMIN_GROUP = 64


class BaseQuantizer(Quantizer):
    """Nearest-neighbour lookup, losses, diagnostics and dead-code restarts shared by the quantizers.

    Subclasses decide how the codebook is stored and learned (`VectorQuantizer` by gradient,
    `VectorQuantizerEMA` by exponential moving averages). This class is not used directly.

    Gradients pass the non-differentiable lookup to the inputs straight through: `q = z + sg(e − z)` (van den
    Oord et al. 2017).

    `kmeans_init=True` sets the codebook on the first training call: `kmeans_iters` Lloyd iterations over the
    batch's vectors (the global batch under `tf.distribute`), started from random vectors of it; the learning state
    is set consistently with it (`N_k = max(n_k, 1)` rows per code, and `m_k = e_k·N_k` for the EMA codebook).

    Distances are `d(z, e) = ‖z‖² − 2·z·e + ‖e‖²`, one matmul, always in float32 whatever the layer's
    compute dtype. The search runs over row chunks of `max(512, 2**22 // K)` rows (16 MiB of scores up to
    K = 8192), never more than `max_distance_elements // K` (default `2**24`, i.e. 64 MiB), one chunk at a time: the
    scores stay in cache between the matmul and the argmin, and peak memory stays bounded for any batch size. The
    argmin is taken in two levels (the minimum of each group of up to 64 codes, then the first group and the first
    code in it that reach the row's minimum), which returns `tf.argmin`'s first-minimum index with fewer passes.

    Args:
        num_embeddings, embedding_dim, commitment_cost, decay, dead_code_threshold: See the subclasses, which give
            them their meaning and defaults.
        codebook_dim: Optional integer. If set, inputs are projected to this size for the lookup and back
            (a low-dimensional lookup; LlamaGen uses 8).
        l2_normalize: Boolean. Compare l2-normalised vectors (cosine distance). Defaults to `False`.
        embeddings_initializer: Initializer of the codebook. Defaults to uniform in `±√(3/D)`.
        max_distance_elements: Integer. Largest `rows × K` distance matrix computed at once (float32 elements);
            larger batches are processed in row chunks. Defaults to `2**24` (64 MiB).
        seed: Optional integer. Seed of the dead-code restarts and of the k-means initialisation.
        kmeans_init: Boolean. Set the codebook by k-means on the first training batch (see above). Defaults to
            `False`.
        kmeans_iters: Integer ≥ 1. Lloyd iterations of the k-means initialisation. Defaults to `10`.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).
    """

    def __init__(self, num_embeddings, embedding_dim, commitment_cost=0.25, decay=0.99, dead_code_threshold=0.0,
                 codebook_dim=None, l2_normalize=False, embeddings_initializer=None,
                 max_distance_elements=DEFAULT_MAX_DISTANCE_ELEMENTS, seed=None, kmeans_init=False, kmeans_iters=10,
                 **kwargs):
        super().__init__(**pop_removed_option(kwargs, "gradient_estimator", "straight_through"))
        num_embeddings = check_int("num_embeddings", num_embeddings, minimum=2)
        embedding_dim = check_int("embedding_dim", embedding_dim, minimum=1)
        commitment_cost = check_float("commitment_cost", commitment_cost, minimum=0)
        decay = check_float("decay", decay, minimum=0, maximum=1, exclusive_maximum=True)
        codebook_dim = check_int("codebook_dim", codebook_dim, minimum=1, allow_none=True)
        dead_code_threshold = check_float("dead_code_threshold", dead_code_threshold, minimum=0)
        if check_int("max_distance_elements", max_distance_elements, minimum=1) < num_embeddings:
            raise ValueError(
                "max_distance_elements must be at least num_embeddings. "
                f"Received: max_distance_elements={max_distance_elements}, num_embeddings={num_embeddings}"
            )
        l2_normalize = check_bool("l2_normalize", l2_normalize)
        seed = check_seed("seed", seed)
        if kmeans_init and (isinstance(kmeans_iters, bool) or not isinstance(kmeans_iters, int) or kmeans_iters < 1):
            raise ValueError(f"kmeans_iters must be an integer >= 1. Received: kmeans_iters={kmeans_iters!r}")
        self.kmeans_init = bool(kmeans_init)
        self.kmeans_iters = int(kmeans_iters)
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.commitment_cost = float(commitment_cost)
        self.decay = float(decay)
        self.codebook_dim = None if codebook_dim is None else int(codebook_dim)
        self.l2_normalize = bool(l2_normalize)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or CodebookInitializer(l2_normalize=self.l2_normalize)
        )
        self.dead_code_threshold = float(dead_code_threshold)
        self.max_distance_elements = int(max_distance_elements)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        if self.codebook_dim is not None:
            self.project_in = keras.layers.Dense(self.codebook_dim, name="project_in")
            self.project_out = keras.layers.Dense(self.embedding_dim, name="project_out")
        else:
            self.project_in = self.project_out = None

    # ------------------------------------------------------------------ build
    @property
    def lookup_dim(self):
        """Integer. Dimension in which codes are compared: `codebook_dim` if set, else `embedding_dim`."""
        return self.codebook_dim or self.embedding_dim

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        if self.project_in is not None:
            self.project_in.build(tuple(input_shape[:-1]) + (self.embedding_dim,))
            self.project_out.build(tuple(input_shape[:-1]) + (self.codebook_dim,))
        self._build_codebook()
        if self.kmeans_init:  # only then: files saved without k-means keep their variables
            self.kmeans_initialized = self._add_float32_weight("kmeans_initialized", (), "zeros")

    def _add_float32_weight(self, name, shape, initializer, trainable=False):
        """A float32 weight that no dtype policy casts: the codebook and its statistics."""
        return self.add_weight(
            shape=shape, initializer=initializer, trainable=trainable, autocast=False, dtype="float32", name=name
        )

    def _build_codebook(self):
        raise NotImplementedError

    def _codebook_values(self):
        """Float32 codebook `(K, lookup_dim)` as used for the lookup."""
        raise NotImplementedError

    def _usage_counts(self):
        """Float32 `(K,)` EMA of per-batch usage counts: the dead-code and "alive" criterion."""
        raise NotImplementedError

    # --------------------------------------------------------------- numerics
    def _normalize(self, x):
        return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12) if self.l2_normalize else x

    def _to_lookup_space(self, inputs):
        """Maps inputs `(..., embedding_dim)` to float32 flat rows `(N, lookup_dim)`."""
        z = inputs
        if self.project_in is not None:
            z = self.project_in(z)
        z = tf.cast(z, "float32")
        return self._normalize(tf.reshape(z, (-1, self.lookup_dim)))

    def compute_distances(self, flat_inputs, codebook=None):
        """Squared Euclidean distances `‖z‖² − 2·z·e + ‖e‖²` in float32.

        Args:
            flat_inputs: Tensor `(N, lookup_dim)`.
            codebook: Optional tensor `(K, lookup_dim)`; defaults to the layer's codebook.

        Returns:
            Float32 tensor `(N, K)`.
        """
        z = tf.cast(flat_inputs, "float32")
        e = self._codebook_values() if codebook is None else tf.cast(codebook, "float32")
        z_sq = tf.reduce_sum(tf.square(z), axis=1, keepdims=True)
        e_sq = tf.reduce_sum(tf.square(e), axis=1)
        return z_sq - 2.0 * tf.matmul(z, e, transpose_b=True) + e_sq[tf.newaxis, :]

    def _augment(self, rows, last):
        """`[rows, last, 0…]`: float32 rows `(N, lookup_dim)` widened by one column `last` and zeros to a multiple
        of 8."""
        rows = tf.ensure_shape(rows, (None, self.lookup_dim))
        pad = -(self.lookup_dim + 1) % 8
        last = tf.broadcast_to(tf.cast(last, "float32"), (tf.shape(rows)[0], 1))
        return tf.concat([rows, last, tf.zeros((tf.shape(rows)[0], pad))], axis=1)

    def _scoring_codebook(self, codebook):
        """`[−2·e, ‖e‖², 0…]` for each code: with rows augmented by `[z, 1, 0…]`, one matmul gives the scores
        `‖e‖² − 2·z·e`, which differ from the squared distances by `‖z‖²`, a per-row constant that leaves the argmin
        alone. The −2 is exact (a power of two); `‖e‖²` is summed inside the matmul instead of in a separate pass
        over the `(rows, K)` scores, and the zero columns keep the inner dimension a multiple of 8."""
        return self._augment(-2.0 * codebook, tf.reduce_sum(tf.square(codebook), axis=1, keepdims=True))

    def _nearest_chunk(self, rows, scoring_codebook):
        """First index of the smallest score of each of the augmented `rows` against the `_scoring_codebook`."""
        scores = tf.matmul(rows, scoring_codebook, transpose_b=True)
        k = scores.shape[1]
        group = math.gcd(k, ARGMIN_GROUP) if k else 1
        if group < 8:
            return tf.argmin(scores, axis=1, output_type=tf.int32)
        # The first index of the row minimum in two steps: the first group of `group` codes holding the minimum
        # (a vectorised min over each group, then argmin over K / group mins), then the first index of it in that
        # group. Same index as tf.argmin over the row, ties included, for a fraction of argmin's scalar work.
        # tf.argmin skips NaN while reduce_min propagates it: a chunk with a NaN score takes the plain argmin.
        groups = tf.reshape(scores, (tf.shape(scores)[0], k // group, group))
        group_min = tf.reduce_min(groups, axis=2)

        def grouped():
            best = tf.argmin(group_min, axis=1, output_type=tf.int32)
            within = tf.argmin(tf.gather(groups, best, batch_dims=1), axis=1, output_type=tf.int32)
            return best * group + within

        return tf.cond(
            tf.reduce_any(tf.math.is_nan(group_min)),
            lambda: tf.argmin(scores, axis=1, output_type=tf.int32),
            grouped,
        )

    def _nearest(self, flat):
        """Index of the nearest code for each row of `flat`, in row chunks that bound memory and stay in cache.

        A chunk has `max(CHUNK_MIN_ROWS, CHUNK_ELEMENTS // K)` rows, at most `max_distance_elements // K` (and at
        least 1): written by the matmul and read back by the argmin while it is still in cache, where the whole
        `(N, K)` score matrix would make the stage memory-bound. Chunks run one at a time.
        """
        scoring_codebook = self._scoring_codebook(self._codebook_values())
        flat = self._augment(flat, 1.0)
        rows = max(CHUNK_MIN_ROWS, CHUNK_ELEMENTS // self.num_embeddings)
        rows = max(1, min(rows, self.max_distance_elements // self.num_embeddings))
        if flat.shape[0] is not None and flat.shape[0] <= rows:
            return self._nearest_chunk(flat, scoring_codebook)
        n = tf.shape(flat)[0]

        def chunked():
            padded = tf.pad(flat, [[0, (-n) % rows], [0, 0]])
            chunks = tf.reshape(padded, (-1, rows, flat.shape[1]))
            idx = tf.map_fn(
                lambda c: self._nearest_chunk(c, scoring_codebook),
                chunks,
                fn_output_signature=tf.TensorSpec((rows,), tf.int32),
                # One chunk at a time: map_fn's default (10 in flight) would hold several chunks at once.
                parallel_iterations=1,
            )
            return tf.reshape(idx, (-1,))[:n]

        return tf.cond(n > rows, chunked, lambda: self._nearest_chunk(flat, scoring_codebook))

    def _lookup(self, indices):
        """Float32 code vectors in lookup space for int indices."""
        return tf.gather(self._codebook_values(), indices)

    def _from_lookup_space(self, vectors, batch_shape):
        """Maps float32 rows `(N, lookup_dim)` back to `(*batch_shape, embedding_dim)`."""
        out = tf.reshape(vectors, tf.concat([batch_shape, [self.lookup_dim]], axis=0))
        out = tf.cast(out, self.compute_dtype)
        if self.project_out is not None:
            out = self.project_out(out)
        return out

    # ------------------------------------------------------------ public API
    def codes_to_indices(self, inputs):
        """Int32 indices of the nearest codes, of shape `inputs.shape[:-1]`."""
        inputs = self._prepare(inputs)
        idx = self._nearest(self._to_lookup_space(inputs))
        return tf.reshape(idx, tf.shape(inputs)[:-1])

    def soft_assignments(self, inputs, temperature=None):
        """Soft code assignments `softmax(−d(z_n, e)/τ)`, `(N, K)` float32 rows over the flattened `inputs`.

        `d` are the squared distances (`compute_distances`). Differentiable in `inputs` (and in a gradient-trained
        codebook), unlike the nearest-code indices. They cost one `(N, K)` softmax, not chunked like the lookup.

        Args:
            inputs: Float tensor `(..., embedding_dim)`.
            temperature: Float `τ > 0`, in units of squared distance; `None` uses the batch's mean gap between the
                squared distances to the nearest and the second-nearest code (no gradient through it; over the
                global batch under `tf.distribute`), so the nearest code keeps about `e` times the weight of the
                next whatever the scale of the latents.

        Returns:
            Float32 tensor `(N, K)`, `N` the number of vectors in `inputs`; each row sums to 1.
        """
        distances = self.compute_distances(self._to_lookup_space(inputs))
        if temperature is None:
            two_nearest = -tf.math.top_k(-distances, k=2).values
            gaps = tf.stop_gradient(two_nearest[:, 1] - two_nearest[:, 0])
            rows = self._all_reduce_sum(tf.cast(tf.shape(gaps)[0], "float32"))
            temperature = tf.maximum(self._all_reduce_sum(tf.reduce_sum(gaps)) / rows, 1e-12)
        return tf.nn.softmax(-distances / temperature, axis=-1)

    def code_entropy(self, inputs, temperature=None):
        """Entropy (nats) of the batch's mean soft code assignment: the rate of a code model that ignores context.

        `H(p̄) = −Σ_k p̄_k log p̄_k`, `p̄ = mean_n softmax(−d(z_n, e)/τ)` (`soft_assignments`). Differentiable in
        `inputs`, unlike the hard histogram behind `perplexity = exp H`. Under `tf.distribute` the mean runs over the
        global batch, so every replica penalises the same entropy.

        Args:
            inputs: Float tensor `(..., embedding_dim)`.
            temperature: `τ`, as in `soft_assignments`.

        Returns:
            Scalar float32 tensor in `[0, log K]`.
        """
        return self.mean_assignment_entropy(self.soft_assignments(inputs, temperature))

    def mean_assignment_entropy(self, assignments):
        """`H(p̄)` (nats) of `soft_assignments`' `(N, K)` rows, `p̄` their mean over the global batch: `code_entropy`
        for assignments already computed."""
        total = self._all_reduce_sum(tf.reduce_sum(assignments, axis=0))
        return entropy(total / tf.maximum(tf.reduce_sum(total), 1e-12))

    def _indices_to_codes(self, indices):
        flat = self._lookup(tf.reshape(indices, (-1,)))
        return self._from_lookup_space(flat, tf.shape(indices))

    def quantize_with_stats(self, inputs, training=False):
        """Quantizes `inputs` and returns everything a training step needs.

        Args:
            inputs: Float tensor `(..., embedding_dim)`.
            training: Boolean. Whether to update codebook statistics (EMA layer) and usage.

        Returns:
            Dict with `quantized` (same shape and dtype as the inputs, straight-through gradient),
            `indices` (int32, `inputs.shape[:-1]`), `loss` (scalar float32 quantizer loss), `losses` (its weighted
            terms by name),
            `perplexity`, `codebook_usage` (fraction of codes hit in this batch) and
            `codebook_alive` (fraction of codes whose EMA usage is at or above the dead-code threshold).
        """
        inputs = self._prepare(inputs)
        batch_shape = tf.shape(inputs)[:-1]
        out = self.quantize_rows(self._to_lookup_space(inputs), training)
        quantized = self._from_lookup_space(out["quantized"], batch_shape)
        if self.project_out is None:
            quantized = tf.cast(quantized, inputs.dtype)
        return {**out, "quantized": quantized, "indices": tf.reshape(out["indices"], batch_shape)}

    def quantize_rows(self, z, training=False, learn=True):
        """`quantize_with_stats` on float32 rows `z` `(N, lookup_dim)` in lookup space: the quantized rows stay
        float32 rows and the indices flat. With `learn=False` a training call changes no state (a residual
        quantizer with a shared codebook then calls `learn` once for all its stages)."""
        if training and learn:
            self._maybe_kmeans_init(z)
        indices = self._nearest(z)
        counts = self.code_counts(indices)
        # Quantize with the codebook as it is before this step's update (as Sonnet does).
        e = self._lookup(indices)
        if training and learn:
            self.learn(z, indices, counts)
        losses = self._quantizer_losses(z, e)
        # Straight through: the forward pass uses e, the backward pass copies dL/dq to z.
        quantized = z + tf.stop_gradient(e - z)
        probs = counts / tf.maximum(tf.reduce_sum(counts), 1.0)
        return {
            "quantized": quantized,
            "indices": indices,
            "loss": tf.add_n(list(losses.values())),
            "losses": losses,
            "perplexity": tf.exp(entropy(probs)),
            "codebook_usage": tf.reduce_mean(tf.cast(counts > 0, "float32")),
            "codebook_alive": tf.reduce_mean(tf.cast(self._usage_counts() >= self.alive_threshold, "float32")),
        }

    def code_counts(self, indices):
        """Float32 `(K,)` number of rows assigned to each code, over the global batch."""
        return self._all_reduce_sum(
            tf.math.unsorted_segment_sum(tf.ones_like(indices, "float32"), indices, self.num_embeddings)
        )

    def learn(self, z, indices, counts=None):
        """One training step's state change from rows `z` assigned to `indices`: the codebook update (EMA) or the
        usage EMA, then dead-code restarts."""
        counts = self.code_counts(indices) if counts is None else counts
        self._update_codebook(z, indices, counts)
        self._restart_dead_codes(z)

    # ---------------------------------------------------------- k-means init
    def _maybe_kmeans_init(self, z):
        """On the first training call with `kmeans_init`, sets the codebook to `kmeans_iters` Lloyd iterations
        over the rows `z` of the global batch."""
        if not self.kmeans_init:
            return
        # Gathered on every training step (one all-gather of the rows): a collective can't sit inside a branch of
        # the tf.cond under tf.distribute.
        rows = all_gather_rows(z)

        def initialize():
            codebook, counts = self.kmeans(rows)
            self._set_codebook(codebook, tf.maximum(counts, 1.0))
            self.kmeans_initialized.assign(1.0)
            return tf.constant(True)

        tf.cond(self.kmeans_initialized > 0, lambda: tf.constant(False), initialize)

    def kmeans(self, rows):
        """`(codebook (K, lookup_dim), counts (K,))` after `kmeans_iters` Lloyd iterations on float32 `rows`,
        started from `K` random rows (drawn with replacement, the same on every replica). Forms the whole
        `(N, K)` distance matrix of the batch. A centroid that loses all its rows stays where it is."""
        picks = keras.random.randint((self.num_embeddings,), 0, 2**30, seed=self.seed_generator, dtype="int32")
        codebook = self._normalize(tf.gather(rows, picks % tf.shape(rows)[0]))
        counts = tf.zeros((self.num_embeddings,))
        augmented_rows = self._augment(rows, 1.0)
        for _ in range(self.kmeans_iters):
            assigned = self._nearest_chunk(augmented_rows, self._scoring_codebook(codebook))
            counts = tf.math.unsorted_segment_sum(tf.ones_like(assigned, "float32"), assigned, self.num_embeddings)
            sums = tf.math.unsorted_segment_sum(rows, assigned, self.num_embeddings)
            means = self._normalize(sums / tf.maximum(counts, 1.0)[:, tf.newaxis])
            codebook = tf.where(counts[:, tf.newaxis] > 0, means, codebook)
        return codebook, counts

    def _set_codebook(self, codebook, counts):
        """Sets the codebook to `codebook` with the state of codes used `counts` times."""
        raise NotImplementedError

    # ---------------------------------------------------------------- training
    def _quantizer_losses(self, z, e):
        """Dict of the weighted loss terms, scalar float32, by name."""
        raise NotImplementedError

    def _update_codebook(self, z, indices, counts):
        """Learns from this batch: EMA statistics and codebook (EMA layer) or usage counts only."""
        raise NotImplementedError

    def _reset_codes(self, mask, vectors):
        """Replaces the codes where `mask` is true by `vectors` and resets their counts to the threshold."""
        raise NotImplementedError

    @property
    def alive_threshold(self):
        """Float. A code is "alive" while its EMA count is at least `max(dead_code_threshold, 1e-3)`."""
        return max(self.dead_code_threshold, 1e-3)

    def _all_reduce_sum(self, value):
        """Sums `value` over replicas inside a `tf.distribute` replica context; identity otherwise."""
        return all_reduce_sum(value)

    def _restart_dead_codes(self, z):
        """Replaces codes whose EMA count fell below `dead_code_threshold` by random rows of `z`."""
        if self.dead_code_threshold <= 0:
            return
        dead = self._usage_counts() < self.dead_code_threshold
        candidates = self._gather_restart_candidates(z)
        # One draw from a shared seed: every replica picks the same rows of the same global batch.
        picks = keras.random.randint((self.num_embeddings,), 0, 2**30, seed=self.seed_generator, dtype="int32")
        picks = picks % tf.shape(candidates)[0]
        self._reset_codes(dead, self._normalize(tf.gather(candidates, picks)))

    def _gather_restart_candidates(self, z):
        """Rows from which dead codes are re-drawn: the whole global batch under `tf.distribute`."""
        return all_gather_rows(z)

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "commitment_cost": self.commitment_cost,
            "decay": self.decay,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "codebook_dim": self.codebook_dim,
            "l2_normalize": self.l2_normalize,
            "dead_code_threshold": self.dead_code_threshold,
            "max_distance_elements": self.max_distance_elements,
            "seed": self.seed,
            "kmeans_init": self.kmeans_init,
            "kmeans_iters": self.kmeans_iters,
        }
        return {**super().get_config(), **config}
