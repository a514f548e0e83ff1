"""Image data pipelines: `load_images` and the range helpers that models share."""

from vqkeras.data.folder import IMAGE_EXTENSIONS
from vqkeras.data.folder import read_image_folder
from vqkeras.data.load_images import load_images
from vqkeras.data.load_images import preprocess_image
from vqkeras.data.load_images import set_epoch
from vqkeras.data.offline import OFFLINE_SOURCES
from vqkeras.data.offline import load_offline_arrays
from vqkeras.utils.images import from_model_range
from vqkeras.utils.images import to_model_range
