"""Keras callbacks."""

from vqkeras.callbacks.image_logger import ImageLogger
