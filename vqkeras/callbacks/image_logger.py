"""Keras callback that logs reconstructions (and prior samples) to TensorBoard as images."""

import keras
import numpy as np
import tensorflow as tf

from vqkeras.utils.images import from_model_range


class ImageLogger(keras.callbacks.Callback):
    """Writes `images | reconstructions` (and optional samples) to TensorBoard every `every_n_epochs` epochs.

    Works for any model whose call maps [-1, 1] images to reconstructions (`VQVAE`, `VQGAN`, `ImageGenerator`).
    If `generator` is given (an `ImageGenerator` with a trained prior), `num_samples` generated images are logged
    too (fixed `seed`, so successive epochs are comparable).

    Args:
        log_dir: String. TensorBoard log directory (the images go to `log_dir/images`).
        images: Float array `(n, H, W, C)` in [-1, 1]: the fixed images to reconstruct.
        every_n_epochs: Integer. Logging period.
        generator: Optional `ImageGenerator` to sample from.
        num_samples: Integer. Samples to log when `generator` is set.
        seed: Integer seed of the samples.

    Example:

    >>> model.fit(data, epochs=10, callbacks=[vqkeras.callbacks.ImageLogger("logs", images=x[:8])])
    """

    def __init__(self, log_dir, images, every_n_epochs=1, generator=None, num_samples=8, seed=0):
        super().__init__()
        if int(every_n_epochs) < 1:
            raise ValueError(f"every_n_epochs must be >= 1. Received: every_n_epochs={every_n_epochs}")
        images = np.asarray(images, np.float32)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (n, H, W, C). Received: images.shape={images.shape}")
        self.log_dir = str(log_dir)
        self.images = images
        self.every_n_epochs = int(every_n_epochs)
        self.generator = generator
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/images")
        return self._writer

    def log(self, step):
        """Writes the images for `step` now."""
        reconstructions = self.model.predict(self.images, verbose=0)
        pairs = np.concatenate([self.images, reconstructions], axis=2)  # side by side
        with self.writer.as_default():
            tf.summary.image("reconstructions", from_model_range(pairs), step=step, max_outputs=len(pairs))
            if self.generator is not None and self.generator.prior_trained:
                samples = self.generator.generate(self.num_samples, seed=self.seed)
                tf.summary.image("samples", from_model_range(samples), step=step, max_outputs=self.num_samples)
        self.writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.log(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
