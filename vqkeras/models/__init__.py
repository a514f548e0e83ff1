"""VQ models: the tokenizers (VQ-VAE, VQ-GAN) and the discriminator."""

from vqkeras.models.vqvae import VQVAE
