"""The contract every vqkeras quantizer honours."""

import keras
import tensorflow as tf

from vqkeras.distribute import replica_all_reduce


def entropy(probs, axis=None):
    """Entropy in nats, `−Σ p log p`, of probability vectors (`1e-10` keeps empty entries finite)."""
    return -tf.reduce_sum(probs * tf.math.log(probs + 1e-10), axis=axis)


def all_reduce_sum(value):
    """Sums `value` over replicas inside a `tf.distribute` replica context; identity otherwise."""
    return replica_all_reduce(value, tf.distribute.ReduceOp.SUM)


def all_gather_rows(z):
    """The rows `z` of every replica, concatenated (the global batch) under `tf.distribute`; `z` otherwise."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return z
    return ctx.all_gather(z, axis=0)


class Quantizer(keras.layers.Layer):
    """Base of the vqkeras quantizers: the contract shared by every family.

    A quantizer maps float vectors `(..., embedding_dim)` to a quantized tensor of the same shape and to integer
    indices `(..., *index_shape)` in `[0, codebook_size)`:

    - `call(inputs, training)` returns the quantized tensor and adds the quantizer's loss with `add_loss`;
    - `quantize_with_stats(inputs, training)` returns a dict: `quantized`, `indices`, `loss` (the sum of the named
      terms), `losses` (each term by name), and the diagnostics `fit` logs: `perplexity`, `codebook_usage`,
      `codebook_alive`;
    - `codes_to_indices(inputs)` and `indices_to_codes(indices)` map between the two (also under their older
      names `get_code_indices` and `get_codebook_entries`);
    - `codebook_size` (also `num_embeddings`) and `index_shape`, the suffix of the indices' shape per position:
      `()` for one index, `(depth,)` for a residual quantizer.

    All quantizer maths runs in float32 whatever the compute dtype; the output has the compute dtype.

    Subclasses implement `quantize_with_stats`, `codes_to_indices` and `_indices_to_codes`.
    """

    index_shape = ()
    min_index = 0  # a residual quantizer also accepts -1, a stage left out by quantize-dropout

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.perplexity_tracker = keras.metrics.Mean(name="perplexity")
        self.usage_tracker = keras.metrics.Mean(name="codebook_usage")
        self.alive_tracker = keras.metrics.Mean(name="codebook_alive")

    # -------------------------------------------------------------- contract
    @property
    def codebook_size(self):
        """Integer. Number of distinct indices per position (per stage for a residual quantizer)."""
        return self.num_embeddings

    def _check_input_shape(self, input_shape):
        if input_shape[-1] != self.embedding_dim:
            raise ValueError(
                f"The last dimension of the quantizer's inputs must equal embedding_dim={self.embedding_dim}. "
                f"Received: inputs.shape={tuple(input_shape)}"
            )

    def _check_inputs(self, inputs):
        dtype = getattr(inputs, "dtype", None)
        if dtype is not None and not tf.as_dtype(dtype).is_floating:
            raise ValueError(
                f"The quantizer expects floating-point inputs. Received: inputs.dtype={tf.as_dtype(dtype).name}"
            )
        self._check_input_shape(inputs.shape)

    def check_indices(self, indices, argument="indices"):
        """Int32 `indices`, after checking their dtype, trailing shape and range `[min_index, codebook_size)`: the one
        index check of vqkeras (`indices_to_codes`, and `VQVAE.decode` before its graph).

        Eager tensors: a `ValueError` naming `argument` and the values' range. In a graph (`tf.function`, a SavedModel
        signature): two `tf.debugging` assertions, an `InvalidArgumentError` at run time (compiled to nothing under
        XLA). `min_index` is `-1` for a residual quantizer: `-1` marks a stage left out by quantize-dropout.
        """
        indices = tf.convert_to_tensor(indices)
        if not indices.dtype.is_integer:
            raise ValueError(f"{argument} must be an integer tensor. Received: {argument}.dtype={indices.dtype.name}")
        depth = len(self.index_shape)
        if depth and (indices.shape.rank is None or tuple(indices.shape[-depth:]) != tuple(self.index_shape)):
            raise ValueError(
                f"{argument} must end with the index shape {tuple(self.index_shape)}. Received: {argument}.shape="
                f"{indices.shape}"
            )
        indices = tf.cast(indices, tf.int32)
        message = (f"{argument} must be in [{self.min_index}, {self.codebook_size}), the codebook size K "
                   f"(codebook_size={self.codebook_size})")
        if tf.executing_eagerly():
            values = indices.numpy()
            if values.size and (values.min() < self.min_index or values.max() >= self.codebook_size):
                raise ValueError(f"{message}. Received: {argument} with values in [{values.min()}, {values.max()}]")
            return indices
        with tf.control_dependencies([
            tf.debugging.assert_greater_equal(indices, self.min_index, message=message),
            tf.debugging.assert_less(indices, self.codebook_size, message=message),
        ]):
            return tf.identity(indices)

    def indices_to_codes(self, indices):
        """Quantized vectors `(*indices.shape[:len - len(index_shape)], embedding_dim)` for int indices, in the
        compute dtype (the inverse of `codes_to_indices`)."""
        if not self.built:
            raise ValueError(
                f"indices_to_codes() needs a built quantizer: call it on inputs or build it first. Received: an "
                f"unbuilt {type(self).__name__}"
            )
        return self._indices_to_codes(self.check_indices(indices))

    def get_codebook_entries(self, indices):
        """Alias of `indices_to_codes`."""
        return self.indices_to_codes(indices)

    def codes_to_indices(self, inputs):
        """Int32 indices `(*inputs.shape[:-1], *index_shape)` of float vectors `inputs`."""
        raise NotImplementedError

    def get_code_indices(self, inputs):
        """Alias of `codes_to_indices`."""
        return self.codes_to_indices(inputs)

    def _indices_to_codes(self, indices):
        raise NotImplementedError

    def quantize_with_stats(self, inputs, training=False):
        raise NotImplementedError

    def _prepare(self, inputs):
        """`inputs` as a tensor, checked, with the layer built."""
        inputs = tf.convert_to_tensor(inputs)
        self._check_inputs(inputs)
        if not self.built:
            self.build(inputs.shape)
        return inputs

    # ----------------------------------------------------------- diagnostics
    def histogram_stats(self, indices, num_codes=None):
        """`perplexity = exp H(p)` and `codebook_usage` (fraction of codes hit) of the indices' histogram over the
        global batch. It holds one float32 per code."""
        num_codes = num_codes or self.codebook_size
        flat = tf.reshape(indices, (-1,))
        counts = all_reduce_sum(tf.math.unsorted_segment_sum(tf.ones_like(flat, "float32"), flat, num_codes))
        probs = counts / tf.maximum(tf.reduce_sum(counts), 1.0)
        return counts, tf.exp(entropy(probs)), tf.reduce_mean(tf.cast(counts > 0, "float32"))

    def call(self, inputs, training=None):
        out = self.quantize_with_stats(inputs, training=bool(training))
        self.add_loss(out["loss"])
        if training:
            self.perplexity_tracker.update_state(out["perplexity"])
            self.usage_tracker.update_state(out["codebook_usage"])
            self.alive_tracker.update_state(out["codebook_alive"])
        return out["quantized"]

    def compute_output_shape(self, input_shape):
        return input_shape


class UsageTrackingQuantizer(Quantizer):
    """A `Quantizer` without a nearest-neighbour codebook: optional dense projections between `embedding_dim` and
    the quantizer's own width, and an EMA of code usage, `U ← γ·U + (1−γ)·n`, for the `codebook_alive` diagnostic
    (fraction of codes with `U ≥ 1e-3`). The EMA holds `codebook_size` float32 values and changes only in
    training."""

    usage_decay = 0.99
    max_tracked_codes = 2**20

    def _make_projections(self, inner_dim):
        """Dense `project_in` / `project_out` layers when `embedding_dim != inner_dim`, else `None`."""
        self.inner_dim = int(inner_dim)
        if self.embedding_dim == self.inner_dim:
            self.project_in = self.project_out = None
        else:
            self.project_in = keras.layers.Dense(self.inner_dim, name="project_in", dtype=self.dtype_policy)
            self.project_out = keras.layers.Dense(self.embedding_dim, name="project_out", dtype=self.dtype_policy)

    def _build_projections(self, input_shape):
        if self.project_in is not None:
            self.project_in.build(tuple(input_shape[:-1]) + (self.embedding_dim,))
            self.project_out.build(tuple(input_shape[:-1]) + (self.inner_dim,))

    def _to_inner(self, inputs):
        """Float32 rows `(N, inner_dim)` of `inputs` `(..., embedding_dim)`, projected in if needed."""
        z = inputs if self.project_in is None else self.project_in(inputs)
        return tf.reshape(tf.cast(z, "float32"), (-1, self.inner_dim))

    def _from_inner(self, vectors, batch_shape):
        """`(*batch_shape, embedding_dim)` in the compute dtype from float32 rows `(N, inner_dim)`."""
        out = tf.cast(tf.reshape(vectors, tf.concat([batch_shape, [self.inner_dim]], axis=0)), self.compute_dtype)
        return out if self.project_out is None else self.project_out(out)

    def _build_usage(self):
        if self.codebook_size > self.max_tracked_codes:
            self.usage_ema = None
            return
        self.usage_ema = self.add_weight(
            shape=(self.codebook_size,), initializer="zeros", trainable=False, autocast=False, dtype="float32",
            name="usage_ema",
        )

    def usage_stats(self, indices, training):
        """Dict of `perplexity`, `codebook_usage` and `codebook_alive` for int32 `indices`.

        Above `max_tracked_codes` (`2^20`) codes no per-code state is kept: the statistics come from the distinct
        indices of the global batch, and `codebook_alive` is the batch's usage."""
        if self.usage_ema is None:
            _, _, counts = tf.unique_with_counts(tf.reshape(all_gather_rows(tf.reshape(indices, (-1,))), (-1,)))
            counts = tf.cast(counts, "float32")
            probs = counts / tf.reduce_sum(counts)
            usage = tf.cast(tf.size(counts), "float32") / float(self.codebook_size)
            return {"perplexity": tf.exp(entropy(probs)), "codebook_usage": usage, "codebook_alive": usage}
        counts, perplexity, usage = self.histogram_stats(indices)
        if training:
            self.usage_ema.assign(self.usage_decay * self.usage_ema + (1.0 - self.usage_decay) * counts)
        alive = tf.reduce_mean(tf.cast(self.usage_ema >= 1e-3, "float32"))
        return {"perplexity": perplexity, "codebook_usage": usage, "codebook_alive": alive}
