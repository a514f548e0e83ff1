"""Quantizers and building blocks."""

from vqkeras.quantizers import CodebookInitializer  # re-exported: the quantizers live in vqkeras.quantizers
from vqkeras.quantizers import VectorQuantizer
from vqkeras.quantizers import VectorQuantizerEMA
from vqkeras.layers.attention_block import AttentionBlock
from vqkeras.layers.decoder import Decoder
from vqkeras.layers.encoder import Encoder
from vqkeras.layers.group_norm import GroupNorm
from vqkeras.layers.pixel_shuffle import PixelShuffle
from vqkeras.layers.res_block import ResBlock
from vqkeras.layers.diff_augment import DiffAugment
