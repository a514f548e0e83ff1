"""The shipped Fashion-MNIST generator (`fashion_mnist_28`) and its recipe: the arguments of `train_vqgan` as plain
data (`saved_models/README.md` has its model card).

`FASHION_MNIST_28` is also the quality benchmark's vqkeras side (`benchmarks/quality.py` reads it). Its phases,
each annealed (the rate falls linearly to 0 over the last `anneal` of its steps):
1. reconstruction (`reconstruction_epochs`): a `VQVAE` of the architecture below with the L2 loss, under
   Adam(β₂ = 0.95), which follows the gradients of a short run faster than Keras' 0.999. No normalization and
   pixel-shuffle upsampling keep the full-resolution level narrow and cheap.
2. VQ-GAN (`epochs`): `VQGAN.from_vqvae`, both players under Adam(β₁ = 0.5): a perceptual loss on MobileNetV2 (not
   on the FID network) at `perceptual_image_size`, a small adaptively weighted PatchGAN loss, and the code-entropy
   term `λ·H(p̄)` (λ = `code_entropy_weight`, τ = `code_entropy_temperature`, about the gap between the squared
   distances to the nearest and second-nearest code), which trades a little reconstruction for codes a prior models
   more easily.
3. prior (`prior_epochs`): a 4-layer `TransformerPrior` without dropout (which is for long runs), AdamW, with XLA:
   its many small ops fuse. Its copy at `guide_fraction` of the run guides sampling, `(1 + w) log p − w log q`.
"""

from vqkeras.presets.registry import register_presets

FASHION_MNIST_28 = {
    "dataset": "fashion_mnist",
    "split": "train",
    "image_size": 28,
    "channels": 1,
    "batch_size": 32,
    "seed": 0,
    "dataset_name": "fashion_mnist",
    "anneal": 0.2,
    # The tokenizer: f = 4, a 7×7 grid of K = 64 codes.
    "num_embeddings": 64,
    "latent_dim": 32,
    "base_channels": 8,
    "channel_multipliers": [1, 4, 4],
    "num_res_blocks": 0,
    "use_attention": False,
    "normalization": "none",
    "upsample": "pixel_shuffle",
    "reconstruction_loss": "l2",
    # Phase 1: reconstruction only.
    "reconstruction_epochs": 10,
    "reconstruction_optimizer": {"class_name": "Adam", "config": {"learning_rate": 2e-3, "beta_2": 0.95}},
    # Phase 2: the VQ-GAN phase.
    "epochs": 2,
    "optimizer": {"class_name": "Adam", "config": {"learning_rate": 6e-4, "beta_1": 0.5}},
    "perceptual_weight": 1.0,
    "perceptual_backbone": "mobilenet_v2",
    "perceptual_image_size": 56,
    "disc_weight": 0.3,
    "disc_start": 0,
    "disc_warmup": 200,
    "disc_num_layers": 2,
    "disc_filters": 32,
    "code_entropy_weight": 0.3,
    "code_entropy_temperature": 20.0,
    # Phase 3: the prior and its guide.
    "prior": "transformer",
    "prior_kwargs": {"embed_dim": 96, "num_layers": 4, "num_heads": 4, "dropout": 0.0},
    "prior_epochs": 8,
    "prior_batch_size": 64,
    "prior_optimizer": {"class_name": "AdamW", "config": {"learning_rate": 2e-3, "weight_decay": 0.01}},
    "prior_jit_compile": True,
    "guide_fraction": 0.1,
}

FASHION_PRESETS = {
    "fashion_mnist_28": {
        "kind": "generator",
        "description": "Fashion-MNIST at 28×28 grayscale: a VQ-GAN tokenizer (K = 64, 7×7 tokens) and a guided "
                       "transformer prior; its recipe: reconstruction phase, VQ-GAN phase with the code-entropy term, "
                       "prior.",
        "config": {
            "data": "fashion_mnist",
            "image_shape": (28, 28, 1),
            "tokenizer": {"class": "VQVAE", **{key: FASHION_MNIST_28[key] for key in (
                "num_embeddings", "latent_dim", "base_channels", "channel_multipliers", "num_res_blocks")}},
            "prior": {"class": "TransformerPrior", **{key: FASHION_MNIST_28["prior_kwargs"][key] for key in (
                "embed_dim", "num_layers", "num_heads")}},
        },
        "weights": {"file": "saved_models/fashion_vqgan.keras"},
        "recipe": FASHION_MNIST_28,
    },
}

register_presets(FASHION_PRESETS)
