"""taming-transformers (and latent-diffusion `VQModel`) checkpoints → vqkeras `VQVAE`.

taming's `VQModel` state dict (in a PyTorch Lightning checkpoint, under `"state_dict"`):
`encoder.conv_in`, `encoder.down.<level>.block.<i>` (residual blocks), `encoder.down.<level>.attn.<i>` (at
`attn_resolutions`), `encoder.down.<level>.downsample.conv`, `encoder.mid.{block_1, attn_1, block_2}`,
`encoder.{norm_out, conv_out}`; the decoder the same with `up.<level>` (level 0 = full resolution) and
`upsample.conv`; `quant_conv`, `post_quant_conv`, `quantize.embedding.weight`; and the discriminator and LPIPS
weights under `loss.*`, which are skipped. latent-diffusion's `vq-f8` models have the same layout.

Exactness: taming's stride-2 convolution pads `(0, 1, 0, 1)`, which equals TF's `"SAME"` on even sizes; its
GroupNorm has 32 groups and `ε = 10⁻⁶`, as vqkeras'; its attention is single-head over all positions with
`softmax(QKᵀ/√C)`, as `AttentionBlock`.

The Gumbel-softmax model (`GumbelVQ`, e.g. `vqgan_gumbel_f8`) has `quantize.proj` (a 1×1 conv from the
`quant_conv` output to `K` logits) and `quantize.embed.weight` (the `(K, D)` codebook) instead of
`quantize.embedding.weight`; it still has `quant_conv` and `post_quant_conv`. It becomes a `VQVAE` with a
`GumbelQuantizer` (`proj` → `to_logits`, `embed` → `embeddings`), detected by the `quantize.proj.weight` key when
no config is given. The encoder's logits and the decoder are taming's; the evaluation differs on purpose: taming's
`GumbelQuantize` draws Gumbel noise even in eval mode, vqkeras takes `argmax` of the logits.
"""

from vqkeras.convert.tokenizer import build_tokenizer
from vqkeras.convert.tokenizer import infer_config
from vqkeras.convert.tokenizer import read_state_dict
from vqkeras.convert.weights import StateDictLoader
from vqkeras.convert.weights import load_vqvae_weights

_MID = {"mid_res_1": "mid.block_1", "mid_attention": "mid.attn_1", "mid_res_2": "mid.block_2"}
_TOP = {"pre_quant": "quant_conv", "post_quant": "post_quant_conv", "quantizer": "quantize.embedding.weight"}
_GUMBEL_TOP = {**_TOP, "quantizer": "quantize.embed.weight", "quantizer_logits": "quantize.proj"}


def taming_name(path, top=None):
    """The taming prefix of a vqkeras layer path (see `vqkeras.convert.weights.load_vqvae_weights`); `top` maps the
    layers outside the encoder and decoder (the vector-quantized model's names by default)."""
    top = _TOP if top is None else top
    if path in top:
        return top[path]
    stack, layer = path.split("/")
    levels = "down" if stack == "encoder" else "up"
    if layer in _MID:
        return f"{stack}.{_MID[layer]}"
    kind, *index = layer.split("_")
    if kind == "res":
        return f"{stack}.{levels}.{index[0]}.block.{index[1]}"
    if kind == "attn":
        return f"{stack}.{levels}.{index[0]}.attn.{index[1]}"
    if kind == "down":
        return f"{stack}.down.{index[0]}.downsample.conv"
    if kind == "up":
        return f"{stack}.up.{index[0]}.upsample.conv"
    return f"{stack}.{layer}"  # conv_in, norm_out, conv_out


def from_taming(path, config=None):
    """A vqkeras `VQVAE` with the weights of a taming-transformers (or latent-diffusion VQ) checkpoint.

    Args:
        path: String or path-like. A `torch.save` file (zip or legacy): a Lightning checkpoint with a
            `"state_dict"`, or a bare state dict. Read without torch and without running its code.
        config: Optional converter config (a preset's `config`). `None` infers it from the tensor shapes.

    Returns:
        A built `VQVAE`: a gradient-trained `VectorQuantizer` (`β = 0.25`), or a `GumbelQuantizer` for a
        `GumbelVQ` checkpoint (config `quantizer="gumbel"`).

    Raises:
        ValueError: if a tensor is missing, mis-shaped or has no place in the model (the message names it and both
            shapes), e.g. a vector-quantized checkpoint given a Gumbel config (`quantize.proj.weight` is missing).
    """
    path = str(path)
    state = read_state_dict(path, "taming", ("state_dict",))
    source = f"taming checkpoint {path}"
    if config is None:
        config = infer_config(state, source, lambda level: f"encoder.down.{level}", "block")
    model = build_tokenizer(config)
    loader = StateDictLoader(state, source, skip=lambda key: key.startswith("loss."))
    top = _GUMBEL_TOP if config.get("quantizer") == "gumbel" else _TOP
    load_vqvae_weights(model, loader, lambda keras_path: taming_name(keras_path, top))
    return model
