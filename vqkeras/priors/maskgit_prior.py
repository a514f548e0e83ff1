"""Bidirectional masked-token prior (MaskGIT) with iterative parallel decoding."""

import math

import keras
import numpy as np
import tensorflow as tf

from vqkeras import samplers
from vqkeras.distribute import replica_scaled
from vqkeras.priors import masking
from vqkeras.priors import sampling
from vqkeras.priors.base_transformer_prior import BaseTransformerPrior
from vqkeras.samplers.token_constraints import empty_constraint_tensors
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int
from vqkeras.utils.validation import check_seed


@keras.saving.register_keras_serializable(package="vqkeras")
class MaskGITPrior(BaseTransformerPrior):
    """Bidirectional masked-token transformer prior over a grid of code indices (MaskGIT, Chang et al. 2022).

    The `(h, w)` grid is read as `x_1 … x_N`, `N = h·w`. Masked positions hold the extra token `[MASK] = K`. Each
    position gets a learned positional embedding; with `num_classes`, a class token is prepended. `num_layers`
    pre-norm bidirectional `TransformerBlock`s, a final LayerNorm and a linear head give, at every position `i`,
    logits of `p(x_i | x_M̄, c)`, where `M̄` are the unmasked positions.

    Training (sec. 3.2): per example draw `r ~ U(0, 1)`, mask `n = clip(⌈γ(r)·N⌉, 1, N)` uniformly random positions
    with the cosine schedule `γ(r) = cos(π r / 2)`, and minimise the cross-entropy on the masked positions only,
    averaged over the masked tokens of the batch: `L = −Σ_{i∈M} log p(x_i | x_M̄, c) / |M|` (eq. 1). The metrics
    are `loss`, `accuracy` (of the argmax on masked positions) and `perplexity = exp(loss)`.

    Sampling (sec. 3.2, iterative decoding): start from all `U` unknown positions masked. At step `t = 1 … T`,
    predict every masked token in parallel, draw `x̂_i ~ filter(p(· | x_M̄) / τ)` (temperature / top-k / top-p, with
    `logit_bias` added first), score it by `c_i = log p̂(x̂_i) + τ_c (1 − t/T) g_i` with Gumbel noise `g_i` and
    `τ_c = choice_temperature`, keep the most confident, and re-mask the `⌊U · γ(t/T)⌋` least confident (never a token
    decided at an earlier step; at least one new token per step). After step `T` every token is decided. Known
    tokens (`known_tokens` where `known_mask`) are never masked nor changed. All randomness is stateless and
    derived from `seed`, so the same seed gives the same tokens.

    Args:
        num_embeddings: Integer. Vocabulary size `K` (the tokenizer's codebook size); `[MASK]` is index `K`.
        grid_shape: Tuple `(h, w)` of the token grid.
        embed_dim, num_layers, num_heads, mlp_ratio, dropout, layer_norm_epsilon: The transformer's width, depth,
            heads, MLP ratio, dropout and LayerNorm epsilon, documented in `BaseTransformerPrior` (defaults `256`,
            `4`, `8`, `4.0`, `0.1`, `1e-5`).
        num_classes: Optional integer. Class-conditioned prior: a class token is prepended to the sequence.
        choice_temperature: Float `≥ 0`. Scale `τ_c` of the Gumbel noise on the confidences at the first step,
            annealed linearly to 0. Defaults to `4.5` (MaskGIT's value).
        steps: Integer `≥ 1`. Default number of decoding steps `T` of `sample`. Defaults to `8`.
        seed: Optional integer seed of the training masks.
        **kwargs: Base model arguments.

    Call arguments:
        inputs: Int tokens `(batch, h, w)` or `(batch, h·w)` in `[0, K]` (`K` = masked); or `(tokens, labels)` /
            `{"tokens", "labels"}`.
        training: Boolean. Enables dropout.

    Returns:
        Float32 logits `(batch, h, w, K)` (or `(batch, h·w, K)`): entry `i` predicts `x_i` from the unmasked tokens.

    Example:

    >>> prior = MaskGITPrior(num_embeddings=512, grid_shape=(8, 8), embed_dim=64, num_layers=2, num_heads=4)
    >>> prior.compile(optimizer="adam")
    >>> prior.fit(token_grids_dataset, epochs=10)
    >>> grids = prior.sample(4, temperature=1.0, seed=1, steps=8)   # int32 (4, 8, 8)
    >>> filled = prior.sample(1, seed=1, known_tokens=grid, known_mask=keep)   # only ~keep is re-sampled
    """

    def __init__(self, num_embeddings, grid_shape, embed_dim=256, num_layers=4, num_heads=8, mlp_ratio=4.0,
                 dropout=0.1, num_classes=None, choice_temperature=4.5, steps=8, layer_norm_epsilon=1e-5, seed=None,
                 **kwargs):
        steps = check_int("steps", steps, minimum=1)
        choice_temperature = check_float("choice_temperature", choice_temperature, minimum=0)
        seed = check_seed("seed", seed)
        super().__init__(
            num_embeddings, grid_shape, embed_dim=embed_dim, num_layers=num_layers, num_heads=num_heads,
            mlp_ratio=mlp_ratio, dropout=dropout, causal=False, num_classes=num_classes,
            layer_norm_epsilon=layer_norm_epsilon, **kwargs,
        )
        self.choice_temperature = float(choice_temperature)
        self.steps = int(steps)
        self.seed = seed
        self.mask_token = self.num_embeddings  # index K of the token embedding
        self.seed_generator = keras.random.SeedGenerator(seed, name="mask_seed_generator")
        self._maskgit_function = None
        self._probability_function = None
        self.build()

    # ------------------------------------------------------------------ forward
    def _forward(self, tokens, labels, training=None):
        """Logits `(batch, N, K)` of every position given the tokens `(batch, N)` in `[0, K]` (`K` = masked)."""
        x = self.token_embedding(tokens) + self.position_embedding(tf.range(self.sequence_length))[None]
        if self.class_embedding is not None:
            x = tf.concat([self.class_embedding(labels)[:, None, :], x], axis=1)
        x = self.embedding_dropout(x, training=training)
        for block in self.blocks:
            x = block(x, training=training)
        if self.class_embedding is not None:
            x = x[:, 1:]
        return tf.cast(self.head(self.final_norm(x)), tf.float32)

    def logits(self, tokens, labels=None):
        """Logits `(batch, h, w, K)` of `p(x_i | unmasked tokens)`; positions holding `K` are masked.

        Args:
            tokens: Int tensor `(batch, h, w)` or `(batch, h·w)` in `[0, K]`.
            labels: Int tensor `(batch,)` for a class-conditioned prior.
        """
        return self._logits_from_inputs((tokens, labels), training=False)

    # ------------------------------------------------------------------ training
    def _masked_step(self, data, training):
        tokens, labels = self._unpack_data(data)
        labels = self._check_labels(labels)
        batch = tf.shape(tokens)[0]
        # Mask ratio γ(r) = cos(π r / 2), r ~ U(0, 1), then ⌈γ·N⌉ (≥ 1) random positions per example.
        r = keras.random.uniform(tf.stack([batch]), seed=self.seed_generator)
        scores = keras.random.uniform(tf.stack([batch, self.sequence_length]), seed=self.seed_generator)
        scores = tf.ensure_shape(scores, [None, self.sequence_length])
        mask = masking.mask_for_ratio(scores, masking.cosine_schedule(r))
        inputs = tf.where(mask, tf.fill(tf.shape(tokens), self.mask_token), tokens)
        logits = self._forward(inputs, labels, training=training)
        # masked_token_loss: −log p(x_i | unmasked) averaged over the masked positions only.
        masked_token_loss = masking.masked_cross_entropy(logits, tokens, mask)
        loss = masked_token_loss
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return tokens, logits, mask, masked_token_loss, loss

    def _report_masked(self, tokens, logits, mask, masked_token_loss):
        self.loss_tracker.update_state(masked_token_loss)
        self.accuracy_tracker.update_state(tokens, logits, sample_weight=tf.cast(mask, tf.float32))
        loss = self.loss_tracker.result()
        return {"loss": loss, "accuracy": self.accuracy_tracker.result(), "perplexity": tf.exp(loss)}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            tokens, logits, mask, masked_token_loss, loss = self._masked_step(data, training=True)
            scaled_loss = self.optimizer.scale_loss(replica_scaled(loss))
        grads = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._report_masked(tokens, logits, mask, masked_token_loss)

    def test_step(self, data):
        tokens, logits, mask, masked_token_loss, _ = self._masked_step(data, training=False)
        return self._report_masked(tokens, logits, mask, masked_token_loss)

    # ------------------------------------------------------------------ restoration questions
    # Every position sees the tokens on both sides: inpainting conditions on the whole known context.
    bidirectional = True

    def positions_to_resample(self, cells):
        """Boolean `(n, h, w)`: exactly the marked `cells`, each filled seeing every kept token around it."""
        return np.asarray(cells, bool)

    def token_confidence(self, tokens, labels=None, group_size=1):
        """Float32 NumPy `(n, h, w)`: `p(s_i | s_{−i}, c)`, the probability of each token given all the others (see
        `token_probabilities`, which `group_size` trades for speed)."""
        return self.token_probabilities(tokens, labels=labels, group_size=group_size)

    def decoding_options(self, steps):
        """`{"steps": steps}`: the decoding steps `T` of `sample`."""
        return {"steps": check_int("steps", steps, minimum=1)}

    # ------------------------------------------------------------------ sampling
    def sample(self, num_samples, sampler=None, *, seed=None, labels=None, constraints=None, steps=None,
               choice_temperature=None, **options):
        """Samples token grids by iterative parallel decoding (see the class docstring).

        Runs as one `tf.function` with a `tf.while_loop` over the `steps` decoding steps; the same `seed` gives the
        same tokens.

        Args:
            num_samples: Integer ≥ 1.
            sampler: Optional `vqkeras.samplers.Sampler` (temperature, top-k, top-p of the token draws), or its
                config. Defaults to `Sampler()`. A MaskGIT prior is not guided: `guidance_scale` is refused.
            seed: Optional integer or int tensor `[2]`. `None` draws a fresh seed.
            labels: Int array `(num_samples,)` (or one label for all), required iff `num_classes` is set.
            constraints: Optional `vqkeras.samplers.TokenConstraints`: `known_tokens` kept where `known_mask` (only
                the other positions are sampled, each seeing every known token), or a raster `prefix` (the first `n`
                tokens known), and a `logit_bias` added to the logits before the filters.
            steps: Optional integer `T ≥ 1`; defaults to the prior's `steps` (8). More steps cost more and decode
                fewer tokens at once.
            choice_temperature: Optional float `≥ 0` overriding the prior's `choice_temperature`.
            **options: The fields of `Sampler` and `TokenConstraints` as keywords (see `BasePrior.sample`).

        Returns:
            Int32 tensor `(num_samples, h, w)` with values in `[0, K)`.
        """
        steps = self.steps if steps is None else steps
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer. Received: steps={steps}")
        choice_temperature = self.choice_temperature if choice_temperature is None else choice_temperature
        if not choice_temperature >= 0:
            raise ValueError(f"choice_temperature must be >= 0. Received: choice_temperature={choice_temperature}")
        sampler, constraints = samplers.from_options(sampler, constraints, **options)
        self._guidance_scale(None, sampler.guidance_scale)  # refuses a guidance scale: no guide
        labels, known = self._prepare_sampling(num_samples, sampler, constraints, labels)
        out = self._sampler()(
            sampling.make_seed(seed), sampler.tensors(), labels, known,
            steps=tf.constant(int(steps), tf.int32), choice_temperature=tf.constant(float(choice_temperature)),
        )
        return tf.reshape(out, [-1, *self.grid_shape])

    def sample_graph(self, num_samples, seed, sampler, *, labels=None, known=None, steps=None):
        """Graph-only sampling core (tensors in, nothing validated); the same decoding as `sample`.

        Args:
            num_samples: Scalar int32 tensor.
            seed: Int tensor of shape `[2]`.
            sampler: A `vqkeras.samplers.Sampler`, whose fields may be scalar tensors (`top_k ≤ 0` and `top_p ≥ 1`
                disable their filter).
            labels: Int32 tensor `(num_samples,)`, required iff the prior is class-conditioned.
            known: Optional `vqkeras.samplers.ConstraintTensors`; defaults to no constraints.
            steps: Optional scalar int32 tensor; defaults to the prior's `steps`.

        Returns:
            Int32 tensor `(num_samples, h, w)`.
        """
        num_samples = tf.cast(num_samples, tf.int32)
        if known is None:
            known = empty_constraint_tensors(num_samples, self.sequence_length, self.num_embeddings)
        tokens = self._sampler()(
            tf.cast(seed, tf.int64), sampler.tensors(), None if labels is None else tf.cast(labels, tf.int32), known,
            steps=tf.cast(self.steps if steps is None else steps, tf.int32),
            choice_temperature=tf.constant(self.choice_temperature, tf.float32),
        )
        return tf.reshape(tokens, tf.stack([num_samples, *self.grid_shape]))

    def _sampler(self):
        if self._maskgit_function is None:
            self._maskgit_function = tf.function(self._decode_loop, reduce_retracing=True)
        return self._maskgit_function

    def _decode_loop(self, seed, sampler, labels, known, *, steps, choice_temperature):
        """`tf.while_loop` over the `T` decoding steps; one full bidirectional forward pass per step. `sampler` is a
        `SamplerTensors`, `known` a `ConstraintTensors`."""
        length, k = self.sequence_length, self.num_embeddings
        batch = tf.shape(known.tokens)[0]
        masked = tf.fill(tf.shape(known.tokens), self.mask_token)
        tokens = tf.where(known.mask, known.tokens, masked)
        num_unknown = length - tf.reduce_sum(tf.cast(known.mask, tf.int32), axis=1)
        infinity = tf.constant(np.inf, tf.float32)

        def body(t, tokens):
            step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(t, tf.int64))
            draw_seed = tf.random.experimental.stateless_fold_in(step_seed, 0)
            noise_seed = tf.random.experimental.stateless_fold_in(step_seed, 1)
            logits = self._forward(tokens, labels, training=False) + known.logit_bias[:, None, :]
            filtered = sampling.filter_logits(tf.reshape(logits, [-1, k]), sampler.temperature, sampler.top_k,
                                              sampler.top_p)
            drawn = tf.random.stateless_categorical(filtered, 1, seed=draw_seed, dtype=tf.int32)[:, 0]
            log_probs = tf.nn.log_softmax(filtered, axis=-1)
            confidence = tf.gather(log_probs, drawn[:, None], batch_dims=1)[:, 0]
            drawn = tf.reshape(drawn, [batch, length])
            confidence = tf.reshape(confidence, [batch, length])

            unknown = tokens == self.mask_token
            candidates = tf.where(unknown, drawn, tokens)
            # Confidence with annealed Gumbel noise τ_c (1 − t/T) g (t counted from 1); decided tokens are final.
            uniform = tf.random.stateless_uniform([batch, length], seed=noise_seed, minval=1e-20, maxval=1.0)
            gumbel = -tf.math.log(-tf.math.log(uniform))
            anneal = 1.0 - tf.cast(t + 1, tf.float32) / tf.cast(steps, tf.float32)
            confidence = confidence + choice_temperature * anneal * gumbel
            confidence = tf.where(unknown, confidence, infinity)
            # Keep ⌊U·γ((t+1)/T)⌋ masked, but decode at least one new token per step.
            still_unknown = tf.reduce_sum(tf.cast(unknown, tf.int32), axis=1)
            keep_masked = tf.minimum(masking.remaining_masked(num_unknown, t, steps), still_unknown - 1)
            remask = masking.lowest_scores_mask(confidence, tf.maximum(keep_masked, 0))
            new_tokens = tf.where(remask, masked, candidates)
            new_tokens.set_shape(tokens.shape)  # the loop carries a fixed shape; `batch` above is dynamic
            return t + 1, new_tokens

        _, tokens = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0, tf.int32), tokens))
        return tokens

    # ------------------------------------------------------------------ scoring
    def token_probabilities(self, tokens, labels=None, group_size=1, batch_size=256):
        """`p(x_i | all other tokens)` for every position of each grid (the prior's confidence in each token).

        For `group_size = 1` the grid is copied `N` times and copy `i` masks position `i` alone, so the result is
        exactly `p(x_i | x_{−i}, c)`. With `group_size = g > 1`, copy `j` masks the `≈ g` positions `i ≡ j (mod ⌈N/g⌉)`
        at once (an approximation that sees fewer neighbours, `⌈N/g⌉` instead of `N` forward passes per grid).

        Args:
            tokens: Int array `(n, h, w)` or `(n, h·w)` in `[0, K)`.
            labels: Int array `(n,)` for a class-conditioned prior.
            group_size: Integer ≥ 1. Positions masked per copy. Defaults to `1` (exact).
            batch_size: Integer ≥ 1. Copies per forward pass.

        Returns:
            Float32 NumPy array `(n, h, w)` of probabilities.
        """
        for name, value in (("group_size", group_size), ("batch_size", batch_size)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value}")
        flat = self._flatten_tokens(tokens)
        values = flat.numpy()
        if values.size and (values.min() < 0 or values.max() >= self.num_embeddings):
            raise ValueError(
                f"tokens must be in [0, {self.num_embeddings}). Received values in [{values.min()}, {values.max()}]"
            )
        labels = self._check_labels(labels)
        length = self.sequence_length
        passes = math.ceil(length / min(int(group_size), length))
        pass_masks = tf.constant(np.arange(length)[None, :] % passes == np.arange(passes)[:, None])  # (P, N)
        if self._probability_function is None:
            self._probability_function = tf.function(self._masked_probabilities, reduce_retracing=True)
        chunk = max(1, int(batch_size) // passes)
        out = []
        for start in range(0, values.shape[0], chunk):
            chunk_labels = None if labels is None else labels[start:start + chunk]
            out.append(self._probability_function(flat[start:start + chunk], chunk_labels, pass_masks).numpy())
        return np.concatenate(out).reshape(-1, *self.grid_shape)

    def _masked_probabilities(self, tokens, labels, pass_masks):
        batch, passes = tf.shape(tokens)[0], tf.shape(pass_masks)[0]
        copies = tf.repeat(tokens, passes, axis=0)  # (batch·P, N)
        mask = tf.tile(pass_masks, [batch, 1])
        inputs = tf.where(mask, tf.fill(tf.shape(copies), self.mask_token), copies)
        copy_labels = None if labels is None else tf.repeat(labels, passes)
        log_probs = tf.nn.log_softmax(self._forward(inputs, copy_labels, training=False), axis=-1)
        chosen = tf.gather(log_probs, copies[..., None], batch_dims=2)[..., 0]  # (batch·P, N)
        chosen = tf.reshape(chosen, tf.stack([batch, passes, self.sequence_length]))
        # Each position takes its probability from the one copy that masked it.
        return tf.exp(tf.reduce_sum(tf.where(pass_masks[None], chosen, 0.0), axis=1))

    def get_config(self):
        config = {"choice_temperature": self.choice_temperature, "steps": self.steps, "seed": self.seed}
        return {**super().get_config(), **config}
