"""Quantizers: every family honours the contract of `Quantizer` (quantized tensor, losses, indices, stats)."""

from vqkeras.quantizers.codebook_initializer import CodebookInitializer
from vqkeras.quantizers.quantizer import Quantizer
from vqkeras.quantizers.vector_quantizer import VectorQuantizer
from vqkeras.quantizers.vector_quantizer_ema import VectorQuantizerEMA
from vqkeras.quantizers.fsq import FSQ
from vqkeras.quantizers.lfq import LFQ
from vqkeras.quantizers.gumbel_quantizer import GumbelQuantizer
from vqkeras.quantizers.residual_quantizer import ResidualQuantizer
from vqkeras.quantizers.make_quantizer import make_quantizer
