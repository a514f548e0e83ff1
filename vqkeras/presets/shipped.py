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
}

register_presets(SHIPPED_PRESETS)
