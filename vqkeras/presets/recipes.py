"""Training recipes: the settings of a whole training run as plain data (`kind: "recipe"`).

`fashion_mnist_28_vqgan` is the recipe of the quality benchmark's vqkeras side (`benchmarks/quality.py` reads it
from here), in phases:
1. `tokenizer` / `tokenizer_training`: a `VQVAE` (its constructor arguments) trained with the L2 reconstruction loss
   under Adam(`learning_rate`, β₂ = `beta_2`) at `batch_size`. A β₂ below Keras' 0.999 follows the gradients of short
   runs faster. No normalization and pixel-shuffle upsampling keep the full-resolution level narrow and cheap.
2. `vqgan` / `vqgan_training`: the trained VQ-VAE continues as a VQ-GAN (`VQGAN.from_vqvae(model, **vqgan)`), both
   players under Adam(`learning_rate`, β₁ = `beta_1`): a perceptual loss on MobileNetV2 (not on the FID network) at
   `perceptual_image_size`, a small adaptively weighted PatchGAN loss, and the code-entropy term `λ·H(p̄)`
   (λ = `code_entropy_weight`, τ = `code_entropy_temperature`, about the gap between the squared distances to the
   nearest and second-nearest code), which trades a little reconstruction for codes a prior models more easily.
3. `prior` / `prior_training`: a `TransformerPrior` (its constructor arguments, without dropout, which is for long
   runs) on the tokens, under AdamW(`learning_rate`, `weight_decay`) at `batch_size`, with XLA (`jit_compile`):
   its many small ops fuse. The tokenizer phases stay without XLA (the VQ-GAN step with the perceptual loss is slower
   under it).
4. `guidance`: copies of the prior at the `snapshots` fractions of its training guide it at sampling,
   `(1 + w) log p − w log q`, with `w` among `scales` (chosen on held-out images).

`anneal`: in every phase the learning rate falls linearly to 0 over this last fraction of the run.
"""

from vqkeras.presets.registry import register_presets

RECIPE_PRESETS = {
    "fashion_mnist_28_vqgan": {
        "kind": "recipe",
        "description": "Fashion-MNIST at 28×28: VQ-VAE (K = 64, 7×7 tokens), then VQ-GAN with the code-entropy term, "
                       "then a guided transformer prior (the quality benchmark's recipe).",
        "config": {
            "data": "fashion_mnist",
            "image_size": 28,
            "tokenizer": {"class": "VQVAE", "image_channels": 1, "num_embeddings": 64, "latent_dim": 32,
                          "base_channels": 8, "channel_multipliers": (1, 4, 4), "num_res_blocks": 0,
                          "use_attention": False, "normalization": "none", "upsample": "pixel_shuffle",
                          "reconstruction_loss": "l2"},
            "tokenizer_training": {"optimizer": "adam", "learning_rate": 2e-3, "beta_2": 0.95, "batch_size": 32},
            "vqgan": {"perceptual_weight": 1.0, "perceptual_backbone": "mobilenet_v2", "perceptual_image_size": 56,
                      "disc_weight": 0.3, "disc_start": 0, "disc_warmup": 200, "disc_num_layers": 2,
                      "disc_filters": 32, "reconstruction_loss": "l2", "code_entropy_weight": 0.3,
                      "code_entropy_temperature": 20.0},
            "vqgan_training": {"optimizer": "adam", "learning_rate": 6e-4, "beta_1": 0.5},
            "prior": {"class": "TransformerPrior", "embed_dim": 96, "num_layers": 4, "num_heads": 4, "dropout": 0.0},
            "prior_training": {"optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 0.01, "batch_size": 64,
                               "jit_compile": True},
            "guidance": {"snapshots": (0.05, 0.1), "scales": (0.25, 0.35, 0.5, 0.75)},
            "anneal": 0.2,
        },
    },
}

register_presets(RECIPE_PRESETS)
