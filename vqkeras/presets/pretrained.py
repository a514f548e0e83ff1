"""Presets of the published pretrained tokenizers: taming-transformers, latent-diffusion's VQ-f8, LlamaGen.

Each `config` is a converter config (`vqkeras.convert.tokenizer`): `VQVAE` arguments plus `l2_normalize`. The
weights are a PyTorch checkpoint to download once (`url`), read by the converter named in `format`;
`vqkeras.convert.from_preset` converts it and caches the `.keras`. `sha256` is the file's published hash where one
could be found (Hugging Face shows the LFS hash of each file); the taming and latent-diffusion files are hosted
without one (`None`), and for them the converter's checks of every tensor's name and shape are what guard the file.
`member` names the checkpoint inside a downloaded `.zip` (latent-diffusion ships `model.ckpt` zipped).

Architectures (taming's `ddconfig` → vqkeras): `ch` → `base_channels`, `ch_mult` → `channel_multipliers`,
`attn_resolutions = [r]` at `resolution = 256` → `attention_levels = [log2(256 / r)]`, `z_channels` as is,
`embed_dim` → `latent_dim`, `n_embed` → `num_embeddings`.
"""

from vqkeras.presets.registry import register_presets


def _config(num_embeddings, latent_dim, z_channels, multipliers, attention_level, l2_normalize=False):
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
    }


def _heibox(folder):
    return f"https://heibox.uni-heidelberg.de/d/{folder}/files/?p=%2Fckpts%2Flast.ckpt&dl=1"


_F16 = (1, 1, 2, 2, 4)
_F8 = (1, 2, 2, 4)

PRETRAINED_PRESETS = {
    "taming_imagenet_f16_1024": {
        "kind": "tokenizer",
        "description": "taming-transformers VQGAN, ImageNet, f=16, 1024 codes of dim 256 (rFID 7.94).",
        "config": _config(1024, 256, 256, _F16, 4),
        "weights": {"url": _heibox("8088892a516d4e3baf92"), "sha256": None, "format": "taming",
                    "file": "vqgan_imagenet_f16_1024.ckpt"},
    },
    "taming_imagenet_f16_16384": {
        "kind": "tokenizer",
        "description": "taming-transformers VQGAN, ImageNet, f=16, 16384 codes of dim 256 (rFID 4.98).",
        "config": _config(16384, 256, 256, _F16, 4),
        "weights": {"url": _heibox("a7530b09fed84f80a887"), "sha256": None, "format": "taming",
                    "file": "vqgan_imagenet_f16_16384.ckpt"},
    },
    "taming_openimages_f8_256": {
        "kind": "tokenizer",
        "description": "latent-diffusion VQ-f8 (taming's OpenImages f=8 table entry), 256 codes of dim 4.",
        "config": _config(256, 4, 4, _F8, 3),
        "weights": {"url": "https://ommer-lab.com/files/latent-diffusion/vq-f8-n256.zip", "sha256": None,
                    "format": "taming", "file": "vq-f8-n256.zip", "member": "model.ckpt"},
    },
    "taming_openimages_f8_16384": {
        "kind": "tokenizer",
        "description": "latent-diffusion VQ-f8 (taming's OpenImages f=8 table entry), 16384 codes of dim 4.",
        "config": _config(16384, 4, 4, _F8, 3),
        "weights": {"url": "https://ommer-lab.com/files/latent-diffusion/vq-f8.zip", "sha256": None,
                    "format": "taming", "file": "vq-f8.zip", "member": "model.ckpt"},
    },
    "taming_gumbel_f8": {
        "kind": "tokenizer",
        "description": "taming-transformers Gumbel-softmax VQGAN, OpenImages, f=8, 8192 codes (conversion not yet "
                       "supported).",
        "config": _config(8192, 256, 256, (1, 1, 2, 4), 3),
        "weights": {"url": _heibox("2e5662443a6b4307b470"), "sha256": None, "format": "taming_gumbel",
                    "file": "vqgan_gumbel_f8.ckpt"},
    },
    "llamagen_vq_ds16": {
        "kind": "tokenizer",
        "description": "LlamaGen VQ-16 (ImageNet), f=16, 16384 l2-normalised codes of dim 8 (rFID 2.19 at 256 px).",
        "config": _config(16384, 8, 256, _F16, 4, l2_normalize=True),
        "weights": {"url": "https://huggingface.co/FoundationVision/LlamaGen/resolve/main/vq_ds16_c2i.pt",
                    "sha256": None, "format": "llamagen", "file": "vq_ds16_c2i.pt"},
    },
    "llamagen_vq_ds8": {
        "kind": "tokenizer",
        "description": "LlamaGen VQ-8 (ImageNet), f=8, 16384 l2-normalised codes of dim 8.",
        "config": _config(16384, 8, 256, _F8, 3, l2_normalize=True),
        "weights": {"url": "https://huggingface.co/FoundationVision/LlamaGen/resolve/main/vq_ds8_c2i.pt",
                    "sha256": "c70d2966ec012f378793214ff0755087e7c5fe6f035b469995143325dca4a4e3",
                    "format": "llamagen", "file": "vq_ds8_c2i.pt"},
    },
}

register_presets(PRETRAINED_PRESETS)
