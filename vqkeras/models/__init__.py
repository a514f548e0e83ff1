"""VQ models: the tokenizers (VQ-VAE, VQ-GAN) and the discriminator."""

from vqkeras.models.patch_discriminator import PatchDiscriminator
from vqkeras.models.vqgan import VQGAN
from vqkeras.models.vqvae import VQVAE
