"""The keras.io "Vector-Quantized Variational Autoencoders" example architecture, built with vqkeras layers.

Reproduces the architecture of https://keras.io/examples/generative/vq_vae/ (Sayak Paul): encoder
Conv2D(32, 3, s2, relu) → Conv2D(64, 3, s2, relu) → Conv2D(16, 1); vector quantizer with K = 64, β = 0.25 and a
gradient-trained codebook (no EMA, no dead-code restarts: `vqkeras.layers.VectorQuantizer(dead_code_threshold=0)`);
decoder Conv2DTranspose(64, 3, s2, relu) → Conv2DTranspose(32, 3, s2, relu) → Conv2DTranspose(C, 3); MSE
reconstruction loss; Adam(1e-3) in the benchmark. Images are in [-1, 1] (the example uses [-0.5, 0.5] and divides the
MSE by the data variance, a constant rescaling of the loss). Benchmark code only: the library never imports it.
"""

import keras
import tensorflow as tf

from vqkeras.layers import VectorQuantizer


class KerasIOVQVAE(keras.Model):
    """keras.io example architecture VQ-VAE with the `forward`/`encode`/`decode` interface of `vqkeras.models.VQVAE`.

    Args:
        image_shape: Tuple `(H, W, C)`, `H` and `W` divisible by 4. Defaults to `(28, 28, 1)`.
        num_embeddings: Integer. `K`. Defaults to `64`.
        latent_dim: Integer. Code size. Defaults to `16`.
        commitment_cost: Float. `β`. Defaults to `0.25`.
    """

    def __init__(self, image_shape=(28, 28, 1), num_embeddings=64, latent_dim=16, commitment_cost=0.25, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.num_embeddings = int(num_embeddings)
        self.latent_dim = int(latent_dim)
        self.downsample_factor = 4
        self.encoder = keras.Sequential(
            [
                keras.Input(self.image_shape),
                keras.layers.Conv2D(32, 3, strides=2, activation="relu", padding="same"),
                keras.layers.Conv2D(64, 3, strides=2, activation="relu", padding="same"),
                keras.layers.Conv2D(self.latent_dim, 1, padding="same"),
            ],
            name="encoder",
        )
        self.quantizer = VectorQuantizer(
            self.num_embeddings, self.latent_dim, commitment_cost=commitment_cost, dead_code_threshold=0.0,
            name="quantizer",
        )
        h, w = self.image_shape[0] // 4, self.image_shape[1] // 4
        self.decoder = keras.Sequential(
            [
                keras.Input((h, w, self.latent_dim)),
                keras.layers.Conv2DTranspose(64, 3, strides=2, activation="relu", padding="same"),
                keras.layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same"),
                keras.layers.Conv2DTranspose(self.image_shape[-1], 3, padding="same"),
            ],
            name="decoder",
        )
        self.quantizer.build((None, h, w, self.latent_dim))
        self.built = True  # every sub-layer is built above
        self.trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "reconstruction_loss", "vq_loss", "psnr")}

    def forward(self, images, training=False):
        vq = self.quantizer.quantize_with_stats(self.encoder(images, training=training), training=training)
        reconstructions = self.decoder(vq["quantized"], training=training)
        return {"reconstructions": reconstructions, "indices": vq["indices"], "vq_loss": vq["loss"]}

    def call(self, images, training=None):
        return self.forward(images, training=bool(training))["reconstructions"]

    def encode(self, images):
        return self.quantizer.get_code_indices(self.encoder(images, training=False))

    def decode(self, indices):
        return self.decoder(self.quantizer.get_codebook_entries(indices), training=False)

    def _loss_terms(self, images, out):
        reconstruction_loss = tf.reduce_mean(tf.square(images - out["reconstructions"]))
        return reconstruction_loss, reconstruction_loss + out["vq_loss"]

    def _report(self, images, out, reconstruction_loss, loss):
        x = tf.clip_by_value((images + 1) / 2, 0, 1)
        y = tf.clip_by_value((out["reconstructions"] + 1) / 2, 0, 1)
        for name, value in (("loss", loss), ("reconstruction_loss", reconstruction_loss),
                            ("vq_loss", out["vq_loss"]), ("psnr", tf.reduce_mean(tf.image.psnr(x, y, 1.0)))):
            self.trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            out = self.forward(images, training=True)
            reconstruction_loss, loss = self._loss_terms(images, out)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._report(images, out, reconstruction_loss, loss)

    def test_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        out = self.forward(images, training=False)
        return self._report(images, out, *self._loss_terms(images, out))

    @property
    def metrics(self):
        return list(self.trackers.values())
