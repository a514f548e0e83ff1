"""Export for TF Serving and checked loading: `export_saved_model`, `load_model`."""

from vqkeras.export.export_saved_model import export_saved_model
from vqkeras.export.export_saved_model import load_model
