"""Small helpers shared across vqkeras."""

from vqkeras.utils.images import from_model_range
from vqkeras.utils.images import to_model_range
