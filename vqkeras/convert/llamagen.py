"""LlamaGen image tokenizer checkpoints (`VQ-16`, `VQ-8`) → vqkeras `VQVAE`.

LlamaGen's `VQModel` (tokenizer/tokenizer_image/vq_model.py) is taming's architecture with other names and
l2-normalised codes: `encoder.conv_blocks.<level>.res.<i>`, `.attn.<i>` (the lowest level only),
`.downsample.conv`, `encoder.mid.{0, 1, 2}` (residual, attention, residual); the decoder's `conv_blocks` count from
the *lowest* resolution (`conv_blocks.<L − 1 − level>`), with `.upsample.conv`; `quant_conv` (256 → 8),
`post_quant_conv`, `quantize.embedding.weight` (16384 × 8). The quantizer compares `z/‖z‖` with `e/‖e‖` and
returns the normalised code: vqkeras' `VectorQuantizer(l2_normalize=True)`. The `quantize.codebook_used` buffer
(a usage log) is skipped. A training checkpoint keeps the weights under `"ema"` (preferred, as LlamaGen's own demo
does), `"model"` or `"state_dict"`; the discriminator and optimizer states beside them are not read.
"""

from vqkeras.convert.tokenizer import build_tokenizer
from vqkeras.convert.tokenizer import infer_config
from vqkeras.convert.tokenizer import read_state_dict
from vqkeras.convert.weights import StateDictLoader
from vqkeras.convert.weights import load_vqvae_weights

CONTAINERS = ("ema", "model", "state_dict")
_MID = {"mid_res_1": "mid.0", "mid_attention": "mid.1", "mid_res_2": "mid.2"}
_TOP = {"pre_quant": "quant_conv", "post_quant": "post_quant_conv", "quantizer": "quantize.embedding.weight"}
_SKIPPED = ("quantize.codebook_used",)


def llamagen_name(path, num_levels):
    """The LlamaGen prefix of a vqkeras layer path, for a model of `num_levels` levels."""
    if path in _TOP:
        return _TOP[path]
    stack, layer = path.split("/")
    if layer in _MID:
        return f"{stack}.{_MID[layer]}"
    kind, *index = layer.split("_")
    if kind in ("res", "attn", "down", "up"):
        level = int(index[0])
        block = level if stack == "encoder" else num_levels - 1 - level
        prefix = f"{stack}.conv_blocks.{block}"
        if kind == "down":
            return f"{prefix}.downsample.conv"
        if kind == "up":
            return f"{prefix}.upsample.conv"
        return f"{prefix}.{kind}.{index[1]}"
    return f"{stack}.{layer}"  # conv_in, norm_out, conv_out


def _infer(state, source):
    config = infer_config(state, source, lambda level: f"encoder.conv_blocks.{level}", "res")
    return {**config, "l2_normalize": True}


def from_llamagen(path, config=None):
    """A vqkeras `VQVAE` with the weights of a LlamaGen image tokenizer checkpoint.

    Args:
        path: String or path-like. A `torch.save` file (zip or legacy), e.g. `vq_ds16_c2i.pt`. Read without torch
            and without running its code.
        config: Optional converter config (a preset's `config`). `None` infers it from the tensor shapes, with
            l2-normalised codes.

    Returns:
        A built `VQVAE` with a `VectorQuantizer(l2_normalize=True)` (`β = 0.25`).

    Raises:
        ValueError: if a tensor is missing, mis-shaped or has no place in the model (the message names it and both
            shapes).
    """
    path = str(path)
    source = f"LlamaGen checkpoint {path}"
    state = read_state_dict(path, "LlamaGen", CONTAINERS)
    if config is None:
        config = _infer(state, source)
    model = build_tokenizer(config)
    loader = StateDictLoader(state, source, skip=lambda key: key in _SKIPPED)
    levels = len(model.channel_multipliers)
    load_vqvae_weights(model, loader, lambda p: llamagen_name(p, levels))
    return model
