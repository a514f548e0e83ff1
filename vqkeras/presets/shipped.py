"""Presets of the generators shipped in `saved_models/` (see `saved_models/README.md` for their model cards)."""

from vqkeras.presets.registry import register_presets

SHIPPED_PRESETS = {
    "fashion_mnist_32": {
        "kind": "generator",
        "description": "Fashion-MNIST at 32×32 grayscale: VQ-VAE (K = 256, 8×8 tokens) and a guided transformer prior.",
        "config": {
            "data": "fashion_mnist",
            "image_shape": (32, 32, 1),
            "tokenizer": {"class": "VQVAE", "num_embeddings": 256, "latent_dim": 16, "base_channels": 32,
                          "channel_multipliers": (1, 2, 2), "num_res_blocks": 1},
            "prior": {"class": "TransformerPrior", "embed_dim": 128, "num_layers": 4, "num_heads": 4},
        },
        "weights": {"file": "saved_models/fashion_vqvae.keras"},
    },
    "orl_faces_64": {
        "kind": "generator",
        "description": "ORL faces at 64×64 grayscale (people 1–36): VQ-GAN tokenizer and a transformer prior.",
        "config": {
            "data": "orl_faces",
            "image_shape": (64, 64, 1),
            "tokenizer": {"class": "VQGAN", "num_embeddings": 256, "latent_dim": 32, "base_channels": 32,
                          "channel_multipliers": (1, 2, 2, 4), "num_res_blocks": 1},
            "prior": {"class": "TransformerPrior", "embed_dim": 128, "num_layers": 4, "num_heads": 4},
        },
        "weights": {"file": "saved_models/faces_vqgan.keras"},
    },
}

register_presets(SHIPPED_PRESETS)
