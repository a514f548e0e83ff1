"""Tiny models shared by the tests (random init). Keyword arguments override the defaults.

The tokenizer reads 1-channel images, downsamples them 2× (8×8 images: a 4×4 grid) and has 16 codes; the priors
model that grid.
"""

import numpy as np

from vqkeras.models import VQGAN
from vqkeras.models import VQVAE
from vqkeras.models import ImageGenerator
from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior

TOKENIZER_ARGS = dict(
    image_channels=1,
    num_embeddings=16,
    latent_dim=8,
    base_channels=8,
    channel_multipliers=(1, 2),
    num_res_blocks=0,  # no residual blocks per level (the middle blocks remain): traces in about 0.7× the time
    use_attention=False,
)
# A 1-layer, 8-filter discriminator and no perceptual loss (no backbone).
VQGAN_ARGS = dict(disc_filters=8, disc_num_layers=1, perceptual_weight=0.0)
GRID = (4, 4)
TRANSFORMER_ARGS = dict(embed_dim=16, num_layers=1, num_heads=2)
PIXELCNN_ARGS = dict(embed_dim=8, num_layers=2)


def tiny_vqvae(**kwargs):
    return VQVAE(**{**TOKENIZER_ARGS, **kwargs})


def tiny_vqgan(**kwargs):
    return VQGAN(**{**TOKENIZER_ARGS, **VQGAN_ARGS, **kwargs})


def tiny_prior(prior_cls=TransformerPrior, num_embeddings=TOKENIZER_ARGS["num_embeddings"], **kwargs):
    """A `prior_cls` on the tiny tokenizer's grid: `PIXELCNN_ARGS` for a PixelCNN, else `TRANSFORMER_ARGS` (the
    transformer and MaskGIT priors)."""
    defaults = PIXELCNN_ARGS if issubclass(prior_cls, PixelCNNPrior) else TRANSFORMER_ARGS
    return prior_cls(num_embeddings, GRID, **{**defaults, **kwargs})


def tiny_transformer_prior(**kwargs):
    return tiny_prior(TransformerPrior, **kwargs)


def tiny_pixelcnn_prior(**kwargs):
    return tiny_prior(PixelCNNPrior, **kwargs)


def tiny_generator(prior=None, prior_trained=True, **kwargs):
    """An `ImageGenerator` of `tiny_vqvae()` and `prior`: a prior, a prior class for `tiny_prior` (built after the
    tokenizer) or None for `tiny_transformer_prior()`. Other keyword arguments go to `ImageGenerator`."""
    tokenizer = tiny_vqvae()
    if prior is None or isinstance(prior, type):
        prior = tiny_prior(prior or TransformerPrior)
    return ImageGenerator(tokenizer, prior, prior_trained=prior_trained, **kwargs)


def images(n=4, size=8, channels=1, seed=0):
    """`n` random images in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype("float32")
