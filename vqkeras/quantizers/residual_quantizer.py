"""Residual quantization: a stack of quantizers, each quantizing what the previous ones left."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.quantizers.base_quantizer import BaseQuantizer
from vqkeras.quantizers.fsq import FSQ
from vqkeras.quantizers.quantizer import Quantizer
from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class ResidualQuantizer(Quantizer):
    """Residual quantization (RQ-VAE, Lee et al. 2022; SoundStream, Zeghidour et al. 2021, Algorithm 1).

    `depth` stages quantize the input in turn, each the residual the previous stages left:

    `r_0 = x`, `q_i = Q_i(r_i / s_i)·s_i`, `r_{i+1} = r_i − sg(q_i)`, output `Σ_i q_i`,

    with one index per stage, so the indices have shape `(..., depth)` (`index_shape = (depth,)`) and
    `codebook_size` codes per stage. Each stage's loss is that stage's loss on its residual; the losses add up by
    name. `s_i = 1` for codebook stages. For FSQ stages (Mentzer et al. 2023; vector-quantize-pytorch's
    `ResidualFSQ`) `s_i = L^{−i}` per channel, so each stage refines the previous one's grid step, and, when the
    FSQ uses `hard_clamp`, the input is first soft-clamped, `x ← tanh(x/c)·c` with `c = 1 + 1/(L−1)`.

    - `shared_codebook=True`: one codebook quantizer serves every stage; its state (EMA or usage) is updated once
      per step from the residuals of all stages together.
    - `quantize_dropout=True` (SoundStream): in training, a random stage `k ∈ [cutoff, depth)` is drawn per step
      and the stages after it are left out: they add nothing and have no loss, and their indices are `−1`
      (`indices_to_codes` reads `−1` as "no code"). The left-out stages still learn their codebook statistics
      from their residuals (vector-quantize-pytorch skips them), so a stage is never starved by the dropout.

    All stage maths runs on float32 rows whatever the compute dtype; the output has the compute dtype.

    Args:
        quantizer: A `VectorQuantizerEMA`, `VectorQuantizer` or `FSQ` layer (or its config), the template of every
            stage. It must have no projection (`codebook_dim=None`, `l2_normalize=False`; FSQ's `embedding_dim`
            equal to `len(levels)`).
        depth: Integer ≥ 1. Number of stages.
        shared_codebook: Boolean. One codebook for all stages (codebook quantizers only). Defaults to `False`.
        quantize_dropout: Boolean. Defaults to `False`.
        quantize_dropout_cutoff_index: Integer in `[0, depth)`. The first stage that may be the last kept.
        seed: Optional integer. Seed of the dropout draws.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Float tensor `(..., embedding_dim)`.
        training: Boolean. Stage state changes, and stages drop out, only when true.

    Returns:
        The quantized tensor, same shape as `inputs`; the stages' losses are added with `add_loss`.

    Example:

    >>> rq = vqkeras.quantizers.ResidualQuantizer(vqkeras.quantizers.VectorQuantizerEMA(256, 16), depth=4)
    >>> rq.codes_to_indices(keras.random.normal((2, 7, 7, 16))).shape
    TensorShape([2, 7, 7, 4])
    """

    min_index = -1

    def __init__(self, quantizer, depth, shared_codebook=False, quantize_dropout=False,
                 quantize_dropout_cutoff_index=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.depth = check_int("depth", depth, minimum=1)
        if isinstance(quantizer, dict):
            quantizer = keras.saving.deserialize_keras_object(quantizer)
        if not isinstance(quantizer, (BaseQuantizer, FSQ)):
            raise ValueError("quantizer must be a VectorQuantizerEMA, VectorQuantizer or FSQ layer. "
                             f"Received: quantizer={quantizer!r}")
        if isinstance(quantizer, BaseQuantizer) and (quantizer.codebook_dim is not None or quantizer.l2_normalize):
            raise ValueError("The stages of a residual quantizer can't project or normalise. Received: quantizer "
                             f"with codebook_dim={quantizer.codebook_dim}, l2_normalize={quantizer.l2_normalize}")
        if isinstance(quantizer, FSQ):
            if quantizer.project_in is not None:
                raise ValueError("The FSQ stages of a residual quantizer can't project: embedding_dim must equal "
                                 f"len(levels). Received: embedding_dim={quantizer.embedding_dim}, "
                                 f"levels={list(quantizer.levels)}")
            if shared_codebook:
                raise ValueError("shared_codebook needs a codebook quantizer; FSQ has none. Received: "
                                 f"shared_codebook={shared_codebook} with an FSQ quantizer")
        self.quantize_dropout_cutoff_index = check_int(
            "quantize_dropout_cutoff_index", quantize_dropout_cutoff_index, minimum=0)
        if self.quantize_dropout_cutoff_index >= self.depth:
            raise ValueError(f"quantize_dropout_cutoff_index must be < depth={self.depth}. Received: "
                             f"quantize_dropout_cutoff_index={quantize_dropout_cutoff_index}")
        self.shared_codebook = bool(shared_codebook)
        self.quantize_dropout = bool(quantize_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.index_shape = (self.depth,)
        self.embedding_dim = quantizer.embedding_dim
        self.num_embeddings = quantizer.num_embeddings
        self.is_fsq = isinstance(quantizer, FSQ)
        template = {key: value for key, value in quantizer.get_config().items() if key != "name"}
        stage_seed = template.get("seed")
        self.stages = [
            type(quantizer).from_config({
                **template,
                "name": f"stage_{i}",
                **({"seed": stage_seed + i} if stage_seed is not None else {}),
            })
            for i in range(1 if self.shared_codebook else self.depth)
        ]
        if self.is_fsq:
            levels = np.array(quantizer.levels, "float32")
            self._scales = levels[np.newaxis, :] ** -np.arange(self.depth, dtype="float32")[:, np.newaxis]
            self._clamp = (1.0 + 1.0 / (levels - 1.0)) if quantizer.hard_clamp else None
        else:
            self._scales = np.ones((self.depth, 1), "float32")
            self._clamp = None

    def stage(self, i):
        """The quantizer of stage `i`."""
        return self.stages[0 if self.shared_codebook else i]

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        for stage in self.stages:
            stage.build(input_shape)

    def _rows(self, inputs):
        x = tf.reshape(tf.cast(inputs, "float32"), (-1, self.embedding_dim))
        if self._clamp is not None:
            x = tf.tanh(x / self._clamp) * self._clamp
        return x

    def _keep_mask(self, training):
        """Float32 `(depth,)`: 1 for the stages kept this step (all but after a random one with dropout)."""
        if not (training and self.quantize_dropout):
            return None
        last = keras.random.randint((), self.quantize_dropout_cutoff_index, self.depth, seed=self.seed_generator,
                                    dtype="int32")
        return tf.cast(tf.range(self.depth) <= last, "float32")

    def quantize_with_stats(self, inputs, training=False):
        """Quantizes `inputs`; returns a dict with `quantized`, `indices` `(..., depth)`, `loss`, `losses` (summed
        over stages by name), and `perplexity`, `codebook_usage`, `codebook_alive` (means over stages)."""
        inputs = self._prepare(inputs)
        batch_shape = tf.shape(inputs)[:-1]
        residual = self._rows(inputs)
        keep = self._keep_mask(training)
        total, indices, losses, stats, stage_inputs = 0.0, [], {}, [], []
        for i in range(self.depth):
            scale = self._scales[i]
            out = self.stage(i).quantize_rows(residual / scale, training, learn=not self.shared_codebook)
            stage_inputs.append(residual / scale)
            q, idx, stage_losses = out["quantized"] * scale, out["indices"], out["losses"]
            if keep is not None:
                q = q * keep[i]
                idx = tf.where(keep[i] > 0, idx, -1)
                stage_losses = {name: value * keep[i] for name, value in stage_losses.items()}
            for name, value in stage_losses.items():
                losses[name] = losses.get(name, 0.0) + value
            residual = residual - tf.stop_gradient(q)
            total += q
            indices.append(idx)
            stats.append([out["perplexity"], out["codebook_usage"], out["codebook_alive"]])
        if training and self.shared_codebook:
            z = tf.concat(stage_inputs, axis=0)
            self.stages[0].learn(z, tf.concat([tf.maximum(i, 0) for i in indices], axis=0))
        perplexity, usage, alive = tf.unstack(tf.reduce_mean(tf.stack([tf.stack(s) for s in stats]), axis=0))
        return {
            "quantized": tf.cast(tf.reshape(total, tf.shape(inputs)), self.compute_dtype),
            "indices": tf.reshape(tf.stack(indices, axis=-1), tf.concat([batch_shape, [self.depth]], axis=0)),
            "loss": tf.add_n(list(losses.values())) if losses else tf.constant(0.0),
            "losses": losses,
            "perplexity": perplexity,
            "codebook_usage": usage,
            "codebook_alive": alive,
        }

    def codes_to_indices(self, inputs):
        inputs = self._prepare(inputs)
        residual, indices = self._rows(inputs), []
        for i in range(self.depth):
            out = self.stage(i).quantize_rows(residual / self._scales[i], training=False)
            residual -= out["quantized"] * self._scales[i]
            indices.append(out["indices"])
        return tf.reshape(tf.stack(indices, axis=-1), tf.concat([tf.shape(inputs)[:-1], [self.depth]], axis=0))

    def _indices_to_codes(self, indices):
        flat = tf.reshape(indices, (-1, self.depth))
        total = 0.0
        for i in range(self.depth):
            idx = flat[:, i]
            stage = self.stage(i)
            rows = stage.codes_of_indices(tf.maximum(idx, 0)) if self.is_fsq else stage._lookup(tf.maximum(idx, 0))
            total += rows * self._scales[i] * tf.cast(idx >= 0, "float32")[:, tf.newaxis]
        shape = tf.concat([tf.shape(indices)[:-1], [self.embedding_dim]], axis=0)
        return tf.cast(tf.reshape(total, shape), self.compute_dtype)

    def _template_config(self):
        """The serialized template: stage 0's class and config (the template's seed), without its name."""
        cls = type(self.stages[0])
        return {
            "module": cls.__module__,
            "class_name": cls.__name__,
            "config": {key: value for key, value in self.stages[0].get_config().items() if key != "name"},
            "registered_name": keras.saving.get_registered_name(cls),
        }

    def get_config(self):
        config = {
            "quantizer": self._template_config(),
            "depth": self.depth,
            "shared_codebook": self.shared_codebook,
            "quantize_dropout": self.quantize_dropout,
            "quantize_dropout_cutoff_index": self.quantize_dropout_cutoff_index,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
