"""Converters of published PyTorch tokenizers (taming-transformers, LlamaGen) into vqkeras models."""

from vqkeras.convert.from_preset import from_preset
from vqkeras.convert.llamagen import from_llamagen
from vqkeras.convert.taming import from_taming
