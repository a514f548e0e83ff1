"""Shared training loop, input handling and sampling plumbing of the autoregressive token priors."""

import functools

import keras
import numpy as np
import tensorflow as tf

from vqkeras.distribute import replica_scaled
from vqkeras import samplers
from vqkeras.priors import sampling
from vqkeras.samplers.token_constraints import empty_constraint_tensors
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
        (`vqkeras.priors.GuideSnapshot` takes it at a chosen step).

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

    # ------------------------------------------------------------------ restoration questions
    # Whether the logits at a position see the tokens after it. An autoregressive prior's do not: it keeps a raster
    # prefix and continues after it, and it can be guided by a weaker copy, step by step.
    bidirectional = False

    def positions_to_resample(self, cells):
        """Boolean `(n, h, w)`: the positions to re-sample so that the marked `cells` `(n, h, w)` are filled.

        An autoregressive prior only sees earlier tokens, so it re-samples every position from the first marked one
        in raster order onwards (the known tokens are the prefix before it).
        """
        cells = np.asarray(cells, bool)
        flat = cells.reshape(cells.shape[0], -1)
        first = np.where(flat.any(axis=1), flat.argmax(axis=1), flat.shape[1])
        return (np.arange(flat.shape[1])[None] >= first[:, None]).reshape(cells.shape)

    def token_confidence(self, tokens, labels=None, group_size=1):
        """Float32 NumPy `(n, h, w)`: the prior's probability of each token given its context, here `p(s_i | s_<i, c)`.

        Args:
            tokens: Int array `(n, h, w)` in `[0, K)`.
            labels: Int array `(n,)` for a class-conditioned prior.
            group_size: Integer ≥ 1. Positions scored per forward pass by priors that score by masking (MaskGIT);
                an autoregressive prior scores every position in one pass.
        """
        probs = tf.nn.softmax(self.logits(tokens, labels=labels), axis=-1).numpy()
        return np.take_along_axis(probs, np.asarray(tokens)[..., None], axis=-1)[..., 0]

    def decoding_options(self, steps):
        """The keyword arguments of `sample` for `steps` decoding steps: none for an autoregressive prior, which
        decodes one position per step (`steps` is still checked)."""
        check_int("steps", steps, minimum=1)
        return {}

    # ------------------------------------------------------------------ sampling
    _default_sample_mode = "default"

    def check_guide(self, guide):
        """Raises `ValueError` unless `guide` can guide this prior: both autoregressive, same `K`, grid and classes."""
        def autoregressive(prior):
            return isinstance(prior, BasePrior) and not prior.bidirectional

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

    def _guidance_scale(self, guide, guidance_scale):
        """The guidance scale `w` of a call: `guidance_scale`, `1.0` when only `guide` is set, `0.0` without one."""
        if guide is None:
            if guidance_scale is not None:
                raise ValueError(f"guidance_scale needs a guide prior. Received: guidance_scale={guidance_scale}, "
                                 "guide=None")
            return 0.0
        self.check_guide(guide)
        return 1.0 if guidance_scale is None else guidance_scale

    def _sampling_labels(self, labels, num_samples):
        """Checked int32 labels `(num_samples,)` (one label is repeated), or `None` for an unconditional prior."""
        if labels is None and self.num_classes is None:
            return None
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
        return labels

    def _prepare_sampling(self, num_samples, sampler, constraints, labels):
        """Checks one eager sampling call against the prior; returns its labels and `ConstraintTensors`."""
        num_samples = check_int("num_samples", num_samples, minimum=1)
        sampler.check_vocabulary(self.num_embeddings)
        labels = self._sampling_labels(labels, num_samples)
        return labels, constraints.resolve(num_samples, self.sequence_length, self.num_embeddings)

    def _graph_sampler(self, mode, return_logits=False, guide=None):
        """The `tf.function` of `_sample_loop(seed, sampler, labels, known)` for one mode, output and guide."""
        key = (mode, bool(return_logits), None if guide is None else id(guide))
        if key not in self._sample_functions:
            loop = functools.partial(self._sample_loop, mode=mode, return_logits=return_logits, guide=guide)
            self._sample_functions[key] = tf.function(loop, reduce_retracing=True)
        return self._sample_functions[key]

    def sample(self, num_samples, sampler=None, *, seed=None, labels=None, constraints=None, guide=None,
               return_logits=False, **options):
        """Samples token grids in raster order, `x_t ~ p(x_t | x_<t, c)` after the sampler's filters.

        Runs as one `tf.function` with a `tf.while_loop` over positions. The same `seed` gives the same tokens.

        Args:
            num_samples: Integer ≥ 1.
            sampler: Optional `vqkeras.samplers.Sampler` (temperature, top-k, top-p, guidance scale), or its
                config. Defaults to `Sampler()`: temperature 1, no filters.
            seed: Optional integer or int tensor `[2]`. `None` draws a fresh seed.
            labels: Int array `(num_samples,)` (or one label for all), required iff `num_classes` is set.
            constraints: Optional `vqkeras.samplers.TokenConstraints`: a raster `prefix` kept fixed (prefix
                completion), or `known_tokens` kept where `known_mask` (the other positions are sampled in raster
                order, each conditioned on every earlier token, kept or sampled; later kept tokens are not seen by an
                autoregressive prior), and a `logit_bias` added to the logits before the filters.
            guide: Optional weaker autoregressive prior with the same `K`, grid and classes, e.g. an early snapshot
                of this one (`vqkeras.priors.GuideSnapshot`). At each position the logits become
                `(1 + w) log p − w log q` (`p` this prior, `q` the guide, `w` the sampler's `guidance_scale`, 1 if
                unset; `sampling.guided_logits`) before `logit_bias` and the filters. The guide keeps its own KV
                cache; sampling costs both models' steps.
            return_logits: Boolean. Also return the unfiltered logits used at every position.
            **options: The fields of `Sampler` (`temperature`, `top_k`, `top_p`, `guidance_scale`) and of
                `TokenConstraints` (`prefix`, `known_tokens`, `known_mask`, `logit_bias`) as keywords, instead of
                `sampler` and `constraints`.

        Returns:
            Int32 tensor `(num_samples, h, w)`; with `return_logits`, a tuple `(tokens, logits (num_samples, h, w, K))`
            (the guided logits when `guide` is set).
        """
        return self._sample(self._default_sample_mode, num_samples, sampler, seed=seed, labels=labels,
                            constraints=constraints, guide=guide, return_logits=return_logits, **options)

    def _sample(self, mode, num_samples, sampler=None, *, seed=None, labels=None, constraints=None, guide=None,
                return_logits=False, **options):
        sampler, constraints = samplers.from_options(sampler, constraints, **options)
        scale = self._guidance_scale(guide, sampler.guidance_scale)
        labels, known = self._prepare_sampling(num_samples, sampler, constraints, labels)
        loop = self._graph_sampler(mode, return_logits, guide)
        tokens, logits = loop(sampling.make_seed(seed), sampler.tensors(scale), labels, known)
        tokens = tf.reshape(tokens, [-1, *self.grid_shape])
        if return_logits:
            return tokens, tf.reshape(logits, [-1, *self.grid_shape, self.num_embeddings])
        return tokens

    def sample_graph(self, num_samples, seed, sampler, *, labels=None, known=None, guide=None):
        """Graph-only sampling core: tensors in, nothing validated on the Python side.

        Traceable inside an outer `tf.function` (e.g. a SavedModel signature); uses the same loop as `sample`.

        Args:
            num_samples: Scalar int32 tensor.
            seed: Int tensor of shape `[2]`.
            sampler: A `vqkeras.samplers.Sampler`, whose fields may be scalar tensors: `top_k ≤ 0` and `top_p ≥ 1`
                disable their filter, and an unset `guidance_scale` means 0 (unguided).
            labels: Int32 tensor `(num_samples,)`, required iff the prior is class-conditioned.
            known: Optional `vqkeras.samplers.ConstraintTensors` (tokens, mask, logit bias) as `TokenConstraints.resolve`
                gives; defaults to no constraints.
            guide: Optional weaker autoregressive prior (see `sample`); checked like there.

        Returns:
            Int32 tensor `(num_samples, h, w)`.

        Example:

        >>> fn = tf.function(lambda n, seed, t, k: prior.sample_graph(n, seed, Sampler(t, top_k=k)), input_signature=[
        ...     tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64), tf.TensorSpec([], tf.float32),
        ...     tf.TensorSpec([], tf.int32)])
        """
        num_samples = tf.cast(num_samples, tf.int32)
        if known is None:
            known = empty_constraint_tensors(num_samples, self.sequence_length, self.num_embeddings)
        if guide is not None:
            self.check_guide(guide)
        labels = None if labels is None else tf.cast(labels, tf.int32)
        tokens, _ = self._graph_sampler(self._default_sample_mode, False, guide)(
            tf.cast(seed, tf.int64), sampler.tensors(), labels, known
        )
        return tf.reshape(tokens, tf.stack([num_samples, *self.grid_shape]))

    def _initial_sample_state(self, num_samples, mode):
        """Extra loop state of the sampler (e.g. the KV cache); a tuple of tensors."""
        return ()

    def _step_logits(self, tokens, position, labels, state, mode):
        """Logits `(batch, K)` at `position` given the tokens sampled so far, and the new state."""
        raise NotImplementedError

    def _sample_loop(self, seed, sampler, labels, known, *, mode, return_logits=False, guide=None):
        """`tf.while_loop` over raster positions; one `_step_logits` call (two with a `guide`) and one categorical
        draw per position. `sampler` is a `SamplerTensors`, `known` a `ConstraintTensors`."""
        length = self.sequence_length
        num_samples = tf.shape(known.tokens)[0]
        batch_range = tf.range(num_samples)
        tokens = tf.zeros(tf.stack([num_samples, length]), tf.int32)
        state = self._initial_sample_state(num_samples, mode)
        if guide is not None:
            state = (state, guide._initial_sample_state(num_samples, guide._default_sample_mode))
        logits_array = tf.TensorArray(tf.float32, size=length if return_logits else 1)

        step = functools.partial(self._guided_step_logits, labels=labels, mode=mode, guide=guide, sampler=sampler)

        def body(t, tokens, state, logits_array):
            step_logits, state = step(tokens, t, state)
            token = self._choose_token(step_logits + known.logit_bias, t, seed, sampler, known)
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

    def _guided_step_logits(self, tokens, t, state, *, labels, mode, guide, sampler):
        """Float32 logits `(batch, K)` at position `t`, guided by `guide` (whose state is `state[1]`) if set."""
        if guide is None:
            step_logits, state = self._step_logits(tokens, t, labels, state, mode)
            return tf.cast(step_logits, tf.float32), state
        step_logits, own_state = self._step_logits(tokens, t, labels, state[0], mode)
        weak_logits, guide_state = guide._step_logits(tokens, t, labels, state[1], guide._default_sample_mode)
        return sampling.guided_logits(step_logits, weak_logits, sampler.guidance_scale), (own_state, guide_state)

    @staticmethod
    def _choose_token(step_logits, t, seed, sampler, known):
        """Draws the token of position `t`, or copies the known token where `known.mask[:, t]`."""
        step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(t, tf.int64))
        filtered = sampling.filter_logits(step_logits, sampler.temperature, sampler.top_k, sampler.top_p)
        drawn = tf.random.stateless_categorical(filtered, 1, seed=step_seed, dtype=tf.int32)[:, 0]
        return tf.where(known.mask[:, t], known.tokens[:, t], drawn)

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
