"""Keras callbacks."""

from vqkeras.callbacks.guide_snapshot import GuideSnapshot
from vqkeras.callbacks.image_logger import ImageLogger
