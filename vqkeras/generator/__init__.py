"""Joins a tokenizer and a prior: `ImageGenerator` and the one-call trainers."""

from vqkeras.generator.image_generator import ImageGenerator
from vqkeras.generator.training import train_vqgan
from vqkeras.generator.training import train_vqvae
