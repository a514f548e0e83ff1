"""Named configurations as plain data: architectures, training recipes, shipped and pretrained weights."""

from vqkeras.presets.registry import get_preset
from vqkeras.presets.registry import list_presets
from vqkeras.presets.registry import register_presets

from vqkeras.presets import faces  # noqa: E402,F401  (registers the faces recipe presets)
