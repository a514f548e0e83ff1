"""Converters of published PyTorch tokenizers (taming-transformers, LlamaGen) into vqkeras models."""

from vqkeras.convert.preset_loader import from_preset
from vqkeras.convert.llamagen import from_llamagen
from vqkeras.convert.taming import from_taming
