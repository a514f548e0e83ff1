"""Tiny models shared by the export tests (random init: the tests compare the export with the Keras model)."""

import numpy as np

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
    num_res_blocks=1,
    use_attention=False,
)


def tiny_vqvae(**kwargs):
    return VQVAE(**TOKENIZER_ARGS, **kwargs)


def tiny_transformer_prior(**kwargs):
    return TransformerPrior(16, (4, 4), embed_dim=16, num_layers=1, num_heads=2, **kwargs)


def tiny_pixelcnn_prior(**kwargs):
    return PixelCNNPrior(16, (4, 4), embed_dim=8, num_layers=2, **kwargs)


def tiny_generator(prior=None):
    return ImageGenerator(tiny_vqvae(), prior or tiny_transformer_prior(), prior_trained=True)


def images(n=4, size=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 1)).astype("float32")
