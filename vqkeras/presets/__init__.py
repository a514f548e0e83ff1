"""Named configurations as plain data: architectures, training recipes, shipped and pretrained weights."""

from vqkeras.presets.registry import get_preset
from vqkeras.presets.registry import get_recipe
from vqkeras.presets.registry import list_presets
from vqkeras.presets.registry import register_presets
from vqkeras.presets.preset_loading import load_preset
from vqkeras.presets import pretrained  # noqa: F401  (registers the pretrained tokenizer presets)
from vqkeras.presets import fashion  # noqa: F401  (registers the Fashion-MNIST generator and its recipe)
from vqkeras.presets import faces  # noqa: F401  (registers the faces generator and its recipe)
