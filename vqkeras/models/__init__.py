"""VQ models: the tokenizer backbone, its tasks (VQ-VAE, VQ-GAN) and the discriminator."""

from vqkeras.models.patch_discriminator import PatchDiscriminator
from vqkeras.models.vq_backbone import VQBackbone
from vqkeras.models.vqgan import VQGAN
from vqkeras.models.vqvae import VQVAE

# Last: the generator joins a tokenizer (above) and a prior.
from vqkeras.generator.image_generator import ImageGenerator  # noqa: E402
