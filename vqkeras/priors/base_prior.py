"""Shared training loop, input handling and sampling plumbing of the autoregressive token priors."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.distribute import replica_scaled
from vqkeras.priors import sampling
from vqkeras.utils.keras_file_saving import KerasFileSaving
from vqkeras.utils.validation import check_int

MAX_NUM_EMBEDDINGS = 2**16  # largest vocabulary of the dense softmax heads


@keras.saving.register_keras_serializable(package="vqkeras")
class BasePrior(KerasFileSaving, keras.Model):
    """Base class of the autoregressive priors over a `(h, w)` grid of code indices in `[0, K)`.

    A subclass implements `_forward(tokens_flat, labels, training)` → logits `(batch, h·w, K)`, where the logits at
    raster position `t` depend only on tokens `< t` (and the label), and `_step_logits(tokens, t, labels, state, mode)`
    → the logits `(batch, K)` at position `t` during sampling (plus `_initial_sample_state` for e.g. a KV cache).
    The shared sampler is one `tf.while_loop` over positions with per-position seeds
    `fold_in(seed, t)`, so the same seed gives the same tokens whatever the sampling path.

    Training minimises the next-token cross-entropy `L = −(1/hw) Σ_t log p(x_t | x_<t, c)` and reports `loss`,
    `accuracy` (of the argmax prediction) and `perplexity = exp(loss)` (the exponential of the epoch's mean loss).

    Args:
        num_embeddings: Integer. Vocabulary size `2 ≤ K ≤ 2^16` (the tokenizer's codebook size: FSQ, LFQ and Gumbel
            tokens too). Above `2^16` the dense `K`-way head is refused.
        grid_shape: Tuple `(h, w)` of the token grid. A residual tokenizer's `(h, w, depth)` indices are modelled
            as the grid `(h, w·depth)`: depth flattened into the raster sequence, innermost.
        num_classes: Optional integer. Number of classes for class conditioning; `None` for unconditional.
        **kwargs: Base model arguments.
    """

    def __init__(self, num_embeddings, grid_shape, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings = check_int("num_embeddings", num_embeddings, minimum=2)
        if self.num_embeddings > MAX_NUM_EMBEDDINGS:
            raise ValueError(
                f"num_embeddings must be at most {MAX_NUM_EMBEDDINGS} (2^16): the priors' output heads are dense "
                "K-way softmaxes and there is no factorised head; use a smaller codebook (FSQ levels, LFQ bits). "
                f"Received: num_embeddings={num_embeddings}"
            )
        try:
            self.grid_shape = tuple(check_int("grid_shape", s, minimum=1) for s in grid_shape)
        except (TypeError, ValueError):
            self.grid_shape = ()
        if len(self.grid_shape) != 2 or isinstance(grid_shape, str):
            raise ValueError(f"grid_shape must be two positive integers (h, w). Received: grid_shape={grid_shape!r}")
        self.num_classes = check_int("num_classes", num_classes, minimum=1, allow_none=True)
        self.sequence_length = self.grid_shape[0] * self.grid_shape[1]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self._sample_functions = {}

    # ------------------------------------------------------------------ validation
    def check_compatible(self, num_embeddings, grid_shape):
        """Raises `ValueError` if a tokenizer's vocabulary size or grid shape differs from the prior's.

        Args:
            num_embeddings: Integer. The tokenizer's codebook size `K`.
            grid_shape: Tuple `(h, w)`. The tokenizer's token grid.
        """
        grid_shape = tuple(int(s) for s in grid_shape)
        if int(num_embeddings) != self.num_embeddings or grid_shape != self.grid_shape:
            raise ValueError(
                "The prior does not match the tokenizer: the prior has num_embeddings="
                f"{self.num_embeddings} and grid_shape={self.grid_shape}, the tokenizer has "
                f"num_embeddings={int(num_embeddings)} and grid_shape={grid_shape}."
            )

    # ------------------------------------------------------------------ inputs
    def _split_inputs(self, inputs):
        """`tokens`, `(tokens, labels)` or `{"tokens", "labels"}` → (tokens, labels or None)."""
        if isinstance(inputs, dict):
            return inputs["tokens"], inputs.get("labels")
        if isinstance(inputs, (tuple, list)):
            if len(inputs) == 1:
                return inputs[0], None
            if len(inputs) == 2:
                return inputs[0], inputs[1]
            raise ValueError(f"Expected tokens or (tokens, labels). Received a sequence of {len(inputs)} items.")
        return inputs, None

    def _flatten_tokens(self, tokens):
        tokens = tf.convert_to_tensor(tokens)
        if tokens.dtype not in (tf.int32, tf.int64):
            tokens = tf.cast(tokens, tf.int32)
        tokens = tf.cast(tokens, tf.int32)
        shape = tuple(tokens.shape[1:])
        if shape != self.grid_shape and shape != (self.sequence_length,):
            raise ValueError(
                f"Expected token grids of shape (batch, {self.grid_shape[0]}, {self.grid_shape[1]}) or "
                f"(batch, {self.sequence_length}). Received: tokens with shape {tuple(tokens.shape)}"
            )
        return tf.reshape(tokens, [-1, self.sequence_length])

    def _check_labels(self, labels):
        if self.num_classes is None:
            if labels is not None:
                raise ValueError("labels were given, but the prior is unconditional (num_classes=None).")
            return None
        if labels is None:
            raise ValueError(f"The prior is class-conditioned (num_classes={self.num_classes}): labels are required.")
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        return labels

    def _logits_from_inputs(self, inputs, training=None):
        tokens, labels = self._split_inputs(inputs)
        flat = self._flatten_tokens(tokens)
        labels = self._check_labels(labels)
        logits = self._forward(flat, labels, training=training)
        if len(tokens.shape) == 3:
            return tf.reshape(logits, [-1, *self.grid_shape, self.num_embeddings])
        return logits

    def call(self, inputs, training=None):
        """Next-token logits `(batch, h, w, K)` (or `(batch, h·w, K)` for flat input), float32."""
        return self._logits_from_inputs(inputs, training=training)

    def logits(self, tokens, labels=None):
        """Full-sequence next-token logits: entry `t` is `log p(x_t | x_<t, c)` up to a constant.

        Args:
            tokens: Int tensor `(batch, h, w)` or `(batch, h·w)`.
            labels: Int tensor `(batch,)` for a class-conditioned prior.

        Returns:
            Float32 tensor `(batch, h, w, K)` (or `(batch, h·w, K)`).
        """
        return self._logits_from_inputs((tokens, labels), training=False)

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def _unpack_data(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        tokens, labels = self._split_inputs(x)
        if labels is None and y is not None:
            labels = y
        return self._flatten_tokens(tokens), labels

    def _step(self, data, training):
        tokens, labels = self._unpack_data(data)
        labels = self._check_labels(labels)
        logits = self._forward(tokens, labels, training=training)
        # next_token_loss: mean over positions and batch of −log p(x_t | x_<t).
        next_token_loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tokens, logits=logits)
        )
        loss = next_token_loss
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return tokens, logits, next_token_loss, loss

    def _report(self, tokens, logits, next_token_loss):
        self.loss_tracker.update_state(next_token_loss)
        self.accuracy_tracker.update_state(tokens, logits)
        loss = self.loss_tracker.result()
        return {"loss": loss, "accuracy": self.accuracy_tracker.result(), "perplexity": tf.exp(loss)}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None and self.optimizer is not None:
            # Build the weights and the optimizer before the first traced step (Keras defers it to that step here): a
            # `tf.function` whose first trace creates variables traces the step a second time.
            self.build()
            if not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            tokens, logits, next_token_loss, loss = self._step(data, training=True)
            # Per-replica mean → global mean when gradients are summed; dynamic loss scaling under mixed_float16.
            scaled_loss = self.optimizer.scale_loss(replica_scaled(loss))
        grads = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._report(tokens, logits, next_token_loss)

    def test_step(self, data):
        tokens, logits, next_token_loss, _ = self._step(data, training=False)
        return self._report(tokens, logits, next_token_loss)

    # ------------------------------------------------------------------ guidance
    def snapshot(self, name=None):
        """A frozen copy of this prior as it is now: same config, a copy of the weights, not compiled.

        Taken early in training, it is the weaker model that `sample(guide=...)` extrapolates away from
        (`vqkeras.callbacks.GuideSnapshot` takes it at a chosen step).

        Args:
            name: Optional name of the copy. Defaults to `"<name>_snapshot"`.

        Returns:
            A new prior of the same class.
        """
        config = {**self.get_config(), "name": name or f"{self.name}_snapshot"}
        copy = type(self).from_config(config)
        if not copy.built:
            copy.logits(tf.zeros([1, *self.grid_shape], tf.int32),
                        None if self.num_classes is None else tf.zeros([1], tf.int32))
        copy.set_weights(self.get_weights())
        copy.trainable = False
        return copy

    # ------------------------------------------------------------------ sampling
    def _prepare_sampling(self, num_samples, temperature, top_k, top_p, seed, labels, prefix):
        num_samples = check_int("num_samples", num_samples, minimum=1)
        sampling.validate_temperature(temperature)
        sampling.validate_top_k(top_k, self.num_embeddings)
        sampling.validate_top_p(top_p)
        if labels is not None or self.num_classes is not None:
            labels = self._check_labels(labels)
            if labels.shape[0] == 1 and num_samples > 1:
                labels = tf.repeat(labels, num_samples)
            if labels.shape[0] != num_samples:
                raise ValueError(
                    f"labels must have one entry per sample ({num_samples}). Received: {labels.shape[0]} labels"
                )
            values = labels.numpy() if tf.executing_eagerly() else None
            if values is not None and (values.min() < 0 or values.max() >= self.num_classes):
                raise ValueError(f"labels must be in [0, {self.num_classes}). Received: labels={values.tolist()}")
        prefix, prefix_length = self._prepare_prefix(prefix, num_samples)
        return (
            tf.constant(num_samples, tf.int32),
            sampling.make_seed(seed),
            tf.constant(temperature, tf.float32),
            tf.constant(0 if top_k is None else int(top_k), tf.int32),
            tf.constant(1.0 if top_p is None else float(top_p), tf.float32),
            labels,
            prefix,
            prefix_length,
        )

    def _prepare_prefix(self, prefix, num_samples):
        length = self.sequence_length
        if prefix is None:
            return tf.zeros([num_samples, length], tf.int32), tf.constant(0, tf.int32)
        prefix = np.asarray(prefix)
        if prefix.ndim == 3:
            prefix = prefix.reshape(prefix.shape[0], -1)
        if prefix.ndim == 1:
            prefix = np.tile(prefix[None], [num_samples, 1])
        if prefix.ndim != 2 or prefix.shape[0] != num_samples or prefix.shape[1] > length:
            raise ValueError(
                f"prefix must have shape (num_samples={num_samples}, n) with n ≤ h·w={length}. "
                f"Received: prefix with shape {prefix.shape}"
            )
        if prefix.size and (prefix.min() < 0 or prefix.max() >= self.num_embeddings):
            raise ValueError(
                f"prefix tokens must be in [0, {self.num_embeddings}). "
                f"Received values in [{prefix.min()}, {prefix.max()}]"
            )
        n = prefix.shape[1]
        padded = np.zeros([num_samples, length], np.int32)
        padded[:, :n] = prefix
        return tf.constant(padded), tf.constant(n, tf.int32)

    def _graph_sampler(self, mode, return_logits=False, guide=None):
        key = (mode, bool(return_logits), None if guide is None else id(guide))
        if key not in self._sample_functions:

            def fn(num_samples, seed, temperature, top_k, top_p, labels, prefix, prefix_length, known_mask,
                   logit_bias, guidance_scale):
                return self._sample_loop(
                    num_samples, seed, temperature, top_k, top_p, labels, prefix, prefix_length, mode, return_logits,
                    known_mask, logit_bias, guide, guidance_scale,
                )

            self._sample_functions[key] = tf.function(fn, reduce_retracing=True)
        return self._sample_functions[key]

    def _check_guide(self, guide, guidance_scale):
        """Validates the guide prior and returns the guidance scale as a float32 tensor (1 when only `guide` is set)."""
        if guide is None:
            if guidance_scale is not None:
                raise ValueError(f"guidance_scale needs a guide prior. Received: guidance_scale={guidance_scale}, "
                                 "guide=None")
            return tf.constant(0.0, tf.float32)

        def autoregressive(prior):
            return isinstance(prior, BasePrior) and not getattr(prior, "bidirectional", False)

        if not autoregressive(self):
            raise ValueError(f"Guided sampling needs an autoregressive prior. Received: prior={self.name!r} "
                             f"({type(self).__name__})")
        if not autoregressive(guide):
            raise ValueError(f"guide must be an autoregressive vqkeras prior. Received: guide={guide!r}")
        if (guide.num_embeddings, guide.grid_shape, guide.num_classes) != (
            self.num_embeddings, self.grid_shape, self.num_classes
        ):
            raise ValueError(
                "guide must have the prior's num_embeddings, grid_shape and num_classes "
                f"({self.num_embeddings}, {self.grid_shape}, {self.num_classes}). Received: guide with "
                f"({guide.num_embeddings}, {guide.grid_shape}, {guide.num_classes})"
            )
        guidance_scale = 1.0 if guidance_scale is None else guidance_scale
        sampling.validate_guidance_scale(guidance_scale)
        return tf.constant(guidance_scale, tf.float32)

    def _run_sampler(self, mode, num_samples, temperature, top_k, top_p, seed, labels, prefix, return_logits,
                     known_tokens=None, known_mask=None, logit_bias=None, guide=None, guidance_scale=None):
        if prefix is not None and known_tokens is not None:
            raise ValueError("Give either prefix or known_tokens/known_mask, not both. Received: both")
        scale = self._check_guide(guide, guidance_scale)
        args = self._prepare_sampling(num_samples, temperature, top_k, top_p, seed, labels, prefix)
        known = self._prepare_known(int(num_samples), known_tokens, known_mask, logit_bias)
        if known_tokens is not None:
            args = args[:6] + (known[0], args[7])
        tokens, logits = self._graph_sampler(mode, return_logits, guide)(*args, known[1], known[2], scale)
        tokens = tf.reshape(tokens, [-1, *self.grid_shape])
        if return_logits:
            return tokens, tf.reshape(logits, [-1, *self.grid_shape, self.num_embeddings])
        return tokens

    def _prepare_known(self, num_samples, known_tokens, known_mask, logit_bias):
        """Validates and flattens `known_tokens`/`known_mask` `(n, h, w)` and `logit_bias` `(n, K)` or `(K,)`."""
        length, k = self.sequence_length, self.num_embeddings
        if (known_tokens is None) != (known_mask is None):
            raise ValueError(
                "known_tokens and known_mask go together. "
                f"Received: known_tokens={'set' if known_tokens is not None else None}, "
                f"known_mask={'set' if known_mask is not None else None}"
            )
        tokens = np.zeros([num_samples, length], np.int32)
        mask = np.zeros([num_samples, length], bool)
        if known_tokens is not None:
            tokens = np.broadcast_to(np.asarray(known_tokens).reshape(-1, length), (num_samples, length))
            mask = np.broadcast_to(np.asarray(known_mask).astype(bool).reshape(-1, length), (num_samples, length))
            if tokens.min() < 0 or tokens.max() >= k:
                raise ValueError(f"known_tokens must be in [0, {k}). Received values in [{tokens.min()}, {tokens.max()}]")
        bias = np.zeros([num_samples, k], np.float32)
        if logit_bias is not None:
            bias = np.broadcast_to(np.asarray(logit_bias, np.float32).reshape(-1, k), (num_samples, k))
            # NaN or +inf logits, or a row without a finite one, make the categorical draw return K, not a token.
            bad = np.isnan(bias) | np.isposinf(bias)
            if bad.any():
                raise ValueError(f"logit_bias must be finite, or -inf to exclude a token; NaN and +inf are not "
                                 f"allowed. Received: logit_bias with {int(bad.sum())} NaN or +inf value(s)")
            excluded = np.isneginf(bias).all(axis=-1)
            if excluded.any():
                raise ValueError(f"logit_bias excludes every one of the K={k} tokens (all -inf) in sample(s) "
                                 f"{np.flatnonzero(excluded).tolist()[:10]}: leave at least one finite. "
                                 f"Received: logit_bias with an all -inf row")
        return (
            tf.constant(np.ascontiguousarray(tokens), tf.int32),
            tf.constant(np.ascontiguousarray(mask)),
            tf.constant(np.ascontiguousarray(bias)),
        )

    def sample(self, num_samples, temperature=1.0, top_k=None, top_p=None, seed=None, labels=None, prefix=None,
               return_logits=False, known_tokens=None, known_mask=None, logit_bias=None, guide=None,
               guidance_scale=None):
        """Samples token grids in raster order, `x_t ~ p(x_t | x_<t, c)` after temperature / top-k / top-p.

        Runs as one `tf.function` with a `tf.while_loop` over positions. The same `seed` gives the same tokens.

        Args:
            num_samples: Integer ≥ 1.
            temperature: Float `> 0`. Defaults to `1.0`.
            top_k: Optional integer in `[1, K]`.
            top_p: Optional float in `(0, 1]`.
            seed: Optional integer or int tensor `[2]`. `None` draws a fresh seed.
            labels: Int array `(num_samples,)` (or one label for all), required iff `num_classes` is set.
            prefix: Optional int array `(num_samples, n)` or `(n,)` of raster-order tokens kept fixed; the remaining
                `h·w − n` tokens are sampled (prefix completion).
            return_logits: Boolean. Also return the unfiltered logits used at every position.
            known_tokens: Optional int array `(num_samples, h, w)` (or one grid for all) of tokens to keep where
                `known_mask` is true; the other positions are sampled in raster order, each conditioned on every
                earlier token, kept or sampled (later kept tokens are not seen by an autoregressive prior).
            known_mask: Boolean array shaped like `known_tokens`.
            logit_bias: Optional float array `(num_samples, K)` or `(K,)` added to the logits before filtering.
            guide: Optional weaker autoregressive prior with the same `K`, grid and classes, e.g. an early snapshot
                of this one (`vqkeras.callbacks.GuideSnapshot`). At each position the logits become
                `(1 + w) log p − w log q` (`p` this prior, `q` the guide; `sampling.guided_logits`) before
                `logit_bias` and the filters. The guide keeps its own KV cache; sampling costs both models' steps.
            guidance_scale: Float `w ≥ 0`, only with `guide`. Defaults to `1.0` when `guide` is set.

        Returns:
            Int32 tensor `(num_samples, h, w)`; with `return_logits`, a tuple `(tokens, logits (num_samples, h, w, K))`
            (the guided logits when `guide` is set).
        """
        return self._run_sampler(
            self._default_sample_mode, num_samples, temperature, top_k, top_p, seed, labels, prefix, return_logits,
            known_tokens, known_mask, logit_bias, guide, guidance_scale,
        )

    _default_sample_mode = "default"

    def sample_graph(self, num_samples, seed, temperature, top_k, top_p, labels=None, prefix=None,
                     prefix_length=None, guide=None, guidance_scale=None):
        """Graph-only sampling core: every argument is a tensor, nothing is validated on the Python side.

        Traceable inside an outer `tf.function` (e.g. a SavedModel signature); uses the same loop as `sample`.

        Args:
            num_samples: Scalar int32 tensor.
            seed: Int tensor of shape `[2]`.
            temperature: Scalar float32 tensor `> 0`.
            top_k: Scalar int32 tensor; `≤ 0` disables top-k.
            top_p: Scalar float32 tensor; `≥ 1` disables top-p.
            labels: Int32 tensor `(num_samples,)`, required iff the prior is class-conditioned.
            prefix: Optional int32 tensor `(num_samples, h·w)`; its first `prefix_length` tokens are kept.
            prefix_length: Optional scalar int32 tensor; defaults to 0.
            guide: Optional weaker autoregressive prior (see `sample`); checked like there.
            guidance_scale: Optional scalar float32 tensor `w ≥ 0` (with `guide`); defaults to 0 (unguided).

        Returns:
            Int32 tensor `(num_samples, h, w)`.

        Example:

        >>> fn = tf.function(prior.sample_graph, input_signature=[
        ...     tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64), tf.TensorSpec([], tf.float32),
        ...     tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
        """
        num_samples = tf.cast(num_samples, tf.int32)
        if prefix is None:
            prefix = tf.zeros(tf.stack([num_samples, self.sequence_length]), tf.int32)
        if prefix_length is None:
            prefix_length = tf.constant(0, tf.int32)
        if guide is not None:
            self._check_guide(guide, 0.0)
        tokens, _ = self._graph_sampler(self._default_sample_mode, False, guide)(
            num_samples,
            tf.cast(seed, tf.int64),
            tf.cast(temperature, tf.float32),
            tf.cast(top_k, tf.int32),
            tf.cast(top_p, tf.float32),
            None if labels is None else tf.cast(labels, tf.int32),
            tf.cast(prefix, tf.int32),
            tf.cast(prefix_length, tf.int32),
            tf.zeros(tf.stack([num_samples, self.sequence_length]), tf.bool),
            tf.zeros(tf.stack([num_samples, self.num_embeddings]), tf.float32),
            tf.constant(0.0, tf.float32) if guidance_scale is None else tf.cast(guidance_scale, tf.float32),
        )
        return tf.reshape(tokens, tf.stack([num_samples, *self.grid_shape]))

    def _initial_sample_state(self, num_samples, mode):
        """Extra loop state of the sampler (e.g. the KV cache); a tuple of tensors."""
        return ()

    def _step_logits(self, tokens, position, labels, state, mode):
        """Logits `(batch, K)` at `position` given the tokens sampled so far, and the new state."""
        raise NotImplementedError

    def _sample_loop(self, num_samples, seed, temperature, top_k, top_p, labels, prefix, prefix_length, mode,
                     return_logits, known_mask, logit_bias, guide=None, guidance_scale=None):
        """`tf.while_loop` over raster positions; one `_step_logits` call (two with a `guide`) and one categorical
        draw per position."""
        length = self.sequence_length
        batch_range = tf.range(num_samples)
        tokens = tf.zeros(tf.stack([num_samples, length]), tf.int32)
        state = self._initial_sample_state(num_samples, mode)
        if guide is not None:
            guide_mode = guide._default_sample_mode
            state = (state, guide._initial_sample_state(num_samples, guide_mode))
        logits_array = tf.TensorArray(tf.float32, size=length if return_logits else 1)

        def body(t, tokens, state, logits_array):
            if guide is None:
                step_logits, state = self._step_logits(tokens, t, labels, state, mode)
                step_logits = tf.cast(step_logits, tf.float32)
            else:
                step_logits, own_state = self._step_logits(tokens, t, labels, state[0], mode)
                weak_logits, guide_state = guide._step_logits(tokens, t, labels, state[1], guide_mode)
                step_logits = sampling.guided_logits(step_logits, weak_logits, guidance_scale)
                state = (own_state, guide_state)
            token = self._choose_token(
                step_logits + logit_bias, t, seed, temperature, top_k, top_p, prefix, prefix_length, known_mask
            )
            indices = tf.stack([batch_range, tf.fill(tf.shape(batch_range), t)], axis=-1)
            tokens = tf.tensor_scatter_nd_update(tokens, indices, token)
            if return_logits:
                logits_array = logits_array.write(t, step_logits)
            return t + 1, tokens, state, logits_array

        _, tokens, _, logits_array = tf.while_loop(
            lambda t, *_: t < length,
            body,
            (tf.constant(0, tf.int32), tokens, state, logits_array),
            maximum_iterations=length,
        )
        logits = tf.transpose(logits_array.stack(), [1, 0, 2]) if return_logits else tf.zeros([0])
        return tokens, logits

    @staticmethod
    def _choose_token(step_logits, t, seed, temperature, top_k, top_p, prefix, prefix_length, known_mask):
        """Draws the token of position `t`, or copies `prefix[:, t]` when `t < prefix_length` or it is known."""
        step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(t, tf.int64))
        filtered = sampling.filter_logits(step_logits, temperature, top_k, top_p)
        drawn = tf.random.stateless_categorical(filtered, 1, seed=step_seed, dtype=tf.int32)[:, 0]
        return tf.where((t < prefix_length) | known_mask[:, t], prefix[:, t], drawn)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_embeddings": self.num_embeddings,
                "grid_shape": list(self.grid_shape),
                "num_classes": self.num_classes,
            }
        )
        return config
