"""vqkeras: vector-quantized image models (VQ-VAE, VQ-GAN) for Keras 3."""

__version__ = "0.1.0"
