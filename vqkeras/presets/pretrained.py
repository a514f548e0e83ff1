"""Presets of the published pretrained tokenizers: taming-transformers, latent-diffusion's VQ-f8, LlamaGen.

Each `config` is a converter config (`vqkeras.convert.tokenizer`): `VQVAE` arguments plus `l2_normalize`. The
weights are a PyTorch checkpoint to download once (`url`), read by the converter named in `format`;
`vqkeras.convert.from_preset` converts it and caches the `.keras`. `sha256` is the file's published hash where one
could be found (Hugging Face shows the LFS hash of each file); the taming and latent-diffusion files are hosted
without one (`None`), and for them the converter's checks of every tensor's name and shape are what guard the file.
`member` names the checkpoint inside a downloaded `.zip` (latent-diffusion ships `model.ckpt` zipped).

Architectures (taming's `ddconfig` → vqkeras): `ch` → `base_channels`, `ch_mult` → `channel_multipliers`,
`attn_resolutions = [r]` at `resolution = 256` → `attention_levels = [log2(256 / r)]`, `z_channels` as is,
`embed_dim` → `latent_dim`, `n_embed` → `num_embeddings`; taming's `GumbelVQ` → `quantizer="gumbel"` (its
`vqgan_gumbel_f8` `model.yaml`: `n_embed 8192`, `embed_dim 256`, `z_channels 256`, `ch 128`, `ch_mult [1, 1, 2, 4]`,
`attn_resolutions [32]`, `kl_weight 1e-8`).
"""

from vqkeras.presets.registry import register_presets


def _config(num_embeddings, latent_dim, z_channels, multipliers, attention_level, l2_normalize=False,
            quantizer="vector"):
    return {
        "image_channels": 3,
        "num_embeddings": num_embeddings,
        "latent_dim": latent_dim,
        "z_channels": z_channels,
        "base_channels": 128,
        "channel_multipliers": list(multipliers),
        "num_res_blocks": 2,
        "attention_levels": [attention_level],
        "l2_normalize": l2_normalize,
        "quantizer": quantizer,
    }


def _heibox(folder):
    return f"https://heibox.uni-heidelberg.de/d/{folder}/files/?p=%2Fckpts%2Flast.ckpt&dl=1"


_F16 = (1, 1, 2, 2, 4)
_F8 = (1, 2, 2, 4)

def _tokenizer(description, config, url, sha256, fmt, file, member=None):
    weights = {"url": url, "sha256": sha256, "format": fmt, "file": file}
    if member:
        weights["member"] = member
    return {"kind": "tokenizer", "description": description, "config": config, "weights": weights}


_LDM = "https://ommer-lab.com/files/latent-diffusion/"
_LLAMAGEN = "https://huggingface.co/FoundationVision/LlamaGen/resolve/main/"

PRETRAINED_PRESETS = {
    "taming_imagenet_f16_1024": _tokenizer(
        "taming-transformers VQGAN, ImageNet, f=16, 1024 codes of dim 256.",
        _config(1024, 256, 256, _F16, 4), _heibox("8088892a516d4e3baf92"), None, "taming",
        "vqgan_imagenet_f16_1024.ckpt"),
    "taming_imagenet_f16_16384": _tokenizer(
        "taming-transformers VQGAN, ImageNet, f=16, 16384 codes of dim 256.",
        _config(16384, 256, 256, _F16, 4), _heibox("a7530b09fed84f80a887"), None, "taming",
        "vqgan_imagenet_f16_16384.ckpt"),
    "taming_openimages_f8_256": _tokenizer(
        "latent-diffusion VQ-f8 (taming's OpenImages f=8 table entry), 256 codes of dim 4.",
        _config(256, 4, 4, _F8, 3), _LDM + "vq-f8-n256.zip", None, "taming", "vq-f8-n256.zip", "model.ckpt"),
    "taming_openimages_f8_16384": _tokenizer(
        "latent-diffusion VQ-f8 (taming's OpenImages f=8 table entry), 16384 codes of dim 4.",
        _config(16384, 4, 4, _F8, 3), _LDM + "vq-f8.zip", None, "taming", "vq-f8.zip", "model.ckpt"),
    "taming_gumbel_f8": _tokenizer(
        "taming-transformers Gumbel-softmax VQGAN, OpenImages, f=8, 8192 codes of dim 256 (argmax at inference).",
        _config(8192, 256, 256, (1, 1, 2, 4), 3, quantizer="gumbel"), _heibox("2e5662443a6b4307b470"), None,
        "taming",
        "vqgan_gumbel_f8.ckpt"),
    "llamagen_vq_ds16": _tokenizer(
        "LlamaGen VQ-16 (ImageNet), f=16, 16384 l2-normalised codes of dim 8.",
        _config(16384, 8, 256, _F16, 4, l2_normalize=True), _LLAMAGEN + "vq_ds16_c2i.pt", None, "llamagen",
        "vq_ds16_c2i.pt"),
    "llamagen_vq_ds8": _tokenizer(
        "LlamaGen VQ-8 (ImageNet), f=8, 16384 l2-normalised codes of dim 8.",
        _config(16384, 8, 256, _F8, 3, l2_normalize=True), _LLAMAGEN + "vq_ds8_c2i.pt",
        "c70d2966ec012f378793214ff0755087e7c5fe6f035b469995143325dca4a4e3", "llamagen", "vq_ds8_c2i.pt"),
}

register_presets(PRETRAINED_PRESETS)
