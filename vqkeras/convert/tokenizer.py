"""What the taming and LlamaGen converters share: reading the state dict, inferring and building the model, saving.

A converted tokenizer is a `VQVAE` with a gradient-trained `VectorQuantizer` (both originals train their codebooks
by gradient, with `β = 0.25`), GroupNorm, nearest-neighbour upsampling and attention in the middle, described by a
plain dict (`config`) of `VQVAE` arguments plus `l2_normalize` (LlamaGen compares l2-normalised codes) and
`quantizer`: `"vector"` (the default) or `"gumbel"` for taming's `GumbelVQ`, which becomes a `GumbelQuantizer`
with taming's `gumbel_f8` KL weight `10⁻⁸`. (taming anneals the Gumbel temperature with a cosine schedule that the
converted model does not carry over: fine-tuning restarts `GumbelQuantizer`'s own schedule at `τ₀ = 1`.)
"""

import os

import numpy as np

from vqkeras.backbones.torch_checkpoint import load_torch_checkpoint
from vqkeras.quantizers.gumbel_quantizer import GumbelQuantizer
from vqkeras.quantizers.vector_quantizer import VectorQuantizer
from vqkeras.models.vqvae import VQVAE

CONFIG_KEYS = ("image_channels", "num_embeddings", "latent_dim", "z_channels", "base_channels",
               "channel_multipliers", "num_res_blocks", "attention_levels", "l2_normalize", "quantizer")
OPTIONAL_KEYS = ("l2_normalize", "quantizer")
QUANTIZERS = ("vector", "gumbel")
GUMBEL_KL_WEIGHT = 1e-8  # taming's configs/..._vqgan_gumbel_f8 (`kl_weight: 1.0e-08`)


def read_state_dict(path, source, containers):
    """The state dict inside a `torch.save` file: the first of `containers` (keys of a training checkpoint's dict,
    e.g. Lightning's `"state_dict"`) present, else the file's dict itself. Raises a `ValueError` naming the file
    if it holds no dict of tensors."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    obj = load_torch_checkpoint(path)
    if isinstance(obj, dict):
        for key in containers:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path} does not hold a {source} state dict (a dict of tensors, or one under "
                         f"{', '.join(map(repr, containers))}). Received: {type(obj).__name__}")
    state = {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if len(state) != len(obj):
        odd = next(k for k, v in obj.items() if not isinstance(v, np.ndarray))
        raise ValueError(f"{path}: the {source} state dict holds a non-tensor entry {odd!r} "
                         f"({type(obj[odd]).__name__}).")
    return state


def infer_config(state, source, level_prefix, block, conv_in="encoder.conv_in.weight"):
    """A converter config inferred from the encoder's tensor shapes.

    Args:
        state: The state dict.
        source: String naming the checkpoint in errors.
        level_prefix: Callable `level → "encoder.<...>.<level>"`, the encoder's level modules.
        block: String. The name of a level's residual block list (`"block"` in taming, `"res"` in LlamaGen).
        conv_in: String. The key of the encoder's first convolution.
    """
    def shape(key):
        if key not in state:
            raise ValueError(f"{source}: tensor {key!r} is missing; it is not a checkpoint of this architecture.")
        return state[key].shape

    base, image_channels = shape(conv_in)[:2]
    levels = 0
    while f"{level_prefix(levels)}.{block}.0.conv1.weight" in state:
        levels += 1
    if levels == 0:
        shape(f"{level_prefix(0)}.{block}.0.conv1.weight")
    num_res_blocks = 0
    while f"{level_prefix(0)}.{block}.{num_res_blocks}.conv1.weight" in state:
        num_res_blocks += 1
    multipliers = []
    for level in range(levels):
        channels = shape(f"{level_prefix(level)}.{block}.0.conv1.weight")[0]
        if channels % base:
            raise ValueError(f"{source}: level {level} has {channels} channels, not a multiple of the first "
                             f"convolution's {base}.")
        multipliers.append(channels // base)
    gumbel = "quantize.proj.weight" in state  # taming's GumbelVQ: logits `proj`, codebook `embed`
    num_embeddings, latent_dim = shape("quantize.embed.weight" if gumbel else "quantize.embedding.weight")
    return {
        "image_channels": int(image_channels),
        "num_embeddings": int(num_embeddings),
        "latent_dim": int(latent_dim),
        "z_channels": int(shape("encoder.conv_out.weight")[0]),
        "base_channels": int(base),
        "channel_multipliers": multipliers,
        "num_res_blocks": num_res_blocks,
        "attention_levels": [level for level in range(levels) if f"{level_prefix(level)}.attn.0.q.weight" in state],
        "l2_normalize": False,
        "quantizer": "gumbel" if gumbel else "vector",
    }


def build_tokenizer(config):
    """A built `VQVAE` (weights not loaded) from a converter config (see the module docstring)."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    missing = sorted(set(CONFIG_KEYS) - set(config) - set(OPTIONAL_KEYS))
    if unknown or missing:
        raise ValueError(f"A converter config needs the keys {CONFIG_KEYS}. Received unknown keys {unknown}, "
                         f"missing keys {missing}")
    config = dict(config)
    l2_normalize = bool(config.pop("l2_normalize", False))
    kind = config.pop("quantizer", "vector")
    if kind not in QUANTIZERS:
        raise ValueError(f"A converter config's quantizer must be one of {QUANTIZERS}. Received: quantizer={kind!r}")
    if kind == "gumbel":
        if l2_normalize:
            raise ValueError("A converter config with quantizer='gumbel' cannot have l2_normalize=True. Received: "
                             f"l2_normalize={l2_normalize}")
        quantizer = GumbelQuantizer(config["num_embeddings"], config["latent_dim"], kl_weight=GUMBEL_KL_WEIGHT,
                                    name="quantizer")
    else:
        quantizer = VectorQuantizer(config["num_embeddings"], config["latent_dim"], l2_normalize=l2_normalize,
                                    name="quantizer")
    model = VQVAE(**config, quantizer=quantizer, use_attention=True, normalization="group", upsample="nearest")
    model.build((None, None, None, config["image_channels"]))
    return model
