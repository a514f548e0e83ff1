"""A quantizer of any family from a name and plain options (the command line's `--quantizer NAME`)."""

from vqkeras.quantizers.fsq import FSQ
from vqkeras.quantizers.gumbel_quantizer import GumbelQuantizer
from vqkeras.quantizers.lfq import LFQ
from vqkeras.quantizers.residual_quantizer import ResidualQuantizer
from vqkeras.quantizers.vector_quantizer import VectorQuantizer
from vqkeras.quantizers.vector_quantizer_ema import VectorQuantizerEMA

QUANTIZER_NAMES = ("ema", "gradient", "fsq", "lfq", "bsq", "gumbel", "residual")


def make_quantizer(name, embedding_dim, num_embeddings=512, levels=None, num_bits=None, depth=None,
                   kmeans_init=False, commitment_cost=0.25):
    """Builds the quantizer `name` for inputs of width `embedding_dim`, named `"quantizer"`.

    - `"ema"`, `"gradient"`: `VectorQuantizerEMA` / `VectorQuantizer` with `num_embeddings` codes;
    - `"fsq"`: `FSQ(levels)` (its codebook size is `∏ levels`);
    - `"lfq"`, `"bsq"`: `LFQ(num_bits)`, on the sphere for `"bsq"`;
    - `"gumbel"`: `GumbelQuantizer` with `num_embeddings` codes;
    - `"residual"`: `ResidualQuantizer` of `depth` stages: FSQ stages (symmetric, hard clamp) of width
      `len(levels)` if `levels` is given (and must then equal `embedding_dim`), else EMA stages of `num_embeddings`.

    Options a family doesn't use must be left at `None`/`False` (a `ValueError` names them otherwise), so a typo'd
    flag is not silently ignored.
    """
    if name not in QUANTIZER_NAMES:
        raise ValueError(f"quantizer must be one of {list(QUANTIZER_NAMES)}. Received: quantizer={name!r}")
    used = {"fsq": ("levels",), "lfq": ("num_bits",), "bsq": ("num_bits",), "residual": ("levels", "depth"),
            "ema": ("kmeans_init",), "gradient": ("kmeans_init",)}.get(name, ())
    if name == "residual" and levels is None:
        used += ("kmeans_init",)
    for option, value in (("levels", levels), ("num_bits", num_bits), ("depth", depth), ("kmeans_init", kmeans_init)):
        if value not in (None, False) and option not in used:
            raise ValueError(f"{option} does not apply to quantizer={name!r}. Received: {option}={value!r}")
    if name in ("fsq",) and levels is None:
        raise ValueError(f"quantizer='fsq' needs levels, e.g. 8,5,5,5. Received: levels={levels}")
    if name in ("lfq", "bsq") and num_bits is None:
        raise ValueError(f"quantizer={name!r} needs num_bits. Received: num_bits={num_bits}")
    codebook = dict(commitment_cost=commitment_cost, kmeans_init=kmeans_init)
    if name == "ema":
        return VectorQuantizerEMA(num_embeddings, embedding_dim, name="quantizer", **codebook)
    if name == "gradient":
        return VectorQuantizer(num_embeddings, embedding_dim, name="quantizer", **codebook)
    if name == "fsq":
        return FSQ(list(levels), embedding_dim=embedding_dim, preserve_symmetry=2 in levels, name="quantizer")
    if name in ("lfq", "bsq"):
        return LFQ(num_bits, embedding_dim=embedding_dim, spherical=name == "bsq", commitment_weight=commitment_cost,
                   name="quantizer")
    if name == "gumbel":
        return GumbelQuantizer(num_embeddings, embedding_dim, name="quantizer")
    if levels is not None:
        stage = FSQ(list(levels), preserve_symmetry=True, hard_clamp=True)
        if stage.embedding_dim != embedding_dim:
            raise ValueError(f"A residual FSQ needs one level per latent channel: len(levels) must equal "
                             f"latent_dim={embedding_dim}. Received: levels={list(levels)}")
    else:
        stage = VectorQuantizerEMA(num_embeddings, embedding_dim, **codebook)
    return ResidualQuantizer(stage, depth=4 if depth is None else depth, name="quantizer")
