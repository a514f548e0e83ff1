"""Gumbel-softmax vector quantization."""

import keras
import tensorflow as tf

from vqkeras.quantizers.codebook_initializer import CodebookInitializer
from vqkeras.quantizers.quantizer import UsageTrackingQuantizer
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class GumbelQuantizer(UsageTrackingQuantizer):
    """Gumbel-softmax quantizer (Jang et al. 2017; DALL-E's dVAE; taming-transformers' `gumbel_f8`).

    A 1×1 projection (a dense layer on the channel axis) maps each input to logits `ℓ` over `K` codes. In
    training a relaxed one-hot sample is drawn,

    `y = softmax((ℓ + g)/τ_t)`, `g ~ Gumbel(0, 1)`, and the output is `y·E` (`E` the `(K, D)` codebook),

    or, with `hard=True`, the code of `argmax y` with the gradient of `y·E` (straight through). The temperature
    decays with the training step `t`: `τ_t = max(τ_min, τ_0·exp(−r·t))`. Outside training the index is
    `argmax ℓ` and the output is that code, deterministically (taming samples at evaluation too; vqkeras doesn't).

    The loss is the KL divergence from the code distribution `p = softmax(ℓ)` to the uniform one, weighted:
    `L_kl = w·mean_n Σ_k p_k log(p_k·K)`. Everything after the projection runs in float32; the `(N, K)` logits
    and samples are materialised, so memory grows as `N·K` (unlike the nearest-neighbour quantizers' chunked
    lookup).

    Args:
        num_embeddings: Integer ≥ 2. `K`.
        embedding_dim: Integer. `D`: width of the inputs and of the codes.
        temperature: Float > 0. `τ_0`. Defaults to `1.0`.
        min_temperature: Float > 0. `τ_min`. Defaults to `1/16`.
        temperature_decay: Float ≥ 0. `r`, per training step. Defaults to `1e-4`.
        kl_weight: Float ≥ 0. `w`. Defaults to `5e-4` (taming's).
        hard: Boolean. Straight-through hard samples in training. Defaults to `False`.
        embeddings_initializer: Initializer of the codebook. Defaults to uniform in `±√(3/D)`.
        seed: Optional integer. Seed of the Gumbel noise.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Float tensor `(..., embedding_dim)`.
        training: Boolean. Samples, and advances the temperature schedule, only when true.

    Returns:
        The quantized tensor, same shape as `inputs`; `L_kl` is added with `add_loss`.

    Example:

    >>> gq = vqkeras.quantizers.GumbelQuantizer(num_embeddings=64, embedding_dim=16)
    >>> gq(keras.random.normal((2, 7, 7, 16))).shape
    (2, 7, 7, 16)
    """

    def __init__(self, num_embeddings, embedding_dim, temperature=1.0, min_temperature=1.0 / 16.0,
                 temperature_decay=1e-4, kl_weight=5e-4, hard=False, embeddings_initializer=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings = check_int("num_embeddings", num_embeddings, minimum=2)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, minimum=1)
        self.temperature = check_float("temperature", temperature, minimum=0, exclusive_minimum=True)
        self.min_temperature = check_float("min_temperature", min_temperature, minimum=0, exclusive_minimum=True)
        self.temperature_decay = check_float("temperature_decay", temperature_decay, minimum=0)
        self.kl_weight = check_float("kl_weight", kl_weight, minimum=0)
        self.hard = bool(hard)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer or CodebookInitializer())
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.to_logits = keras.layers.Dense(self.num_embeddings, name="to_logits", dtype=self.dtype_policy)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.to_logits.build(tuple(input_shape[:-1]) + (self.embedding_dim,))
        self.embeddings = self.add_weight(
            shape=(self.num_embeddings, self.embedding_dim), initializer=self.embeddings_initializer,
            trainable=True, autocast=False, dtype="float32", name="embeddings",
        )
        self.step = self.add_weight(shape=(), initializer="zeros", trainable=False, autocast=False, dtype="float32",
                                    name="step")
        self._build_usage()

    def current_temperature(self):
        """Float32 scalar `τ_t = max(τ_min, τ_0·exp(−r·t))` at the current training step."""
        return tf.maximum(self.min_temperature, self.temperature * tf.exp(-self.temperature_decay * self.step))

    def logits(self, inputs):
        """Float32 logits `(N, K)` of the flattened inputs."""
        return tf.reshape(tf.cast(self.to_logits(inputs), "float32"), (-1, self.num_embeddings))

    def quantize_with_stats(self, inputs, training=False):
        """Quantizes `inputs`; returns a dict with `quantized`, `indices`, `loss`, `losses` (`kl_loss`, weighted),
        `temperature`, `perplexity`, `codebook_usage`, `codebook_alive`."""
        inputs = self._prepare(inputs)
        batch_shape = tf.shape(inputs)[:-1]
        logits = self.logits(inputs)
        embeddings = self.embeddings.value
        temperature = self.current_temperature()
        if training:
            uniform = keras.random.uniform(tf.shape(logits), minval=1e-20, maxval=1.0, seed=self.seed_generator)
            gumbel = -tf.math.log(-tf.math.log(uniform))
            soft = tf.nn.softmax((logits + gumbel) / temperature, axis=-1)
            indices = tf.argmax(soft, axis=-1, output_type=tf.int32)
            vectors = tf.matmul(soft, embeddings)
            if self.hard:  # straight through: the code of argmax y forward, the gradient of y·E backward
                vectors = vectors + tf.stop_gradient(tf.gather(embeddings, indices) - vectors)
            self.step.assign_add(1.0)
        else:
            indices = tf.argmax(logits, axis=-1, output_type=tf.int32)
            vectors = tf.gather(embeddings, indices)
        probs = tf.nn.softmax(logits, axis=-1)
        kl = tf.reduce_mean(tf.reduce_sum(probs * tf.math.log(probs * self.num_embeddings + 1e-10), axis=-1))
        losses = {"kl_loss": self.kl_weight * kl}
        return {
            "quantized": tf.cast(tf.reshape(vectors, tf.shape(inputs)), self.compute_dtype),
            "indices": tf.reshape(indices, batch_shape),
            "loss": losses["kl_loss"],
            "losses": losses,
            "temperature": temperature,
            **self.usage_stats(indices, training),
        }

    def codes_to_indices(self, inputs):
        inputs = self._prepare(inputs)
        return tf.reshape(tf.argmax(self.logits(inputs), axis=-1, output_type=tf.int32), tf.shape(inputs)[:-1])

    def _indices_to_codes(self, indices):
        return tf.cast(tf.gather(self.embeddings.value, indices), self.compute_dtype)

    def get_config(self):
        config = {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "temperature": self.temperature,
            "min_temperature": self.min_temperature,
            "temperature_decay": self.temperature_decay,
            "kl_weight": self.kl_weight,
            "hard": self.hard,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
