"""Records what a few VQ-VAE and VQ-GAN training steps give, for `test_training_numerics.py` to compare against.

    python tests/models/record_training_steps.py

writes `tests/models/fixtures/training_steps.npz` (the logs of each step, and digests of the weights after the steps) and
`tests/models/fixtures/tiny_vqgan.keras` (a compiled, trained tiny VQ-GAN, to check that files of that version still
load and train). The fixtures were recorded with the code of commit bfd6f5a, before the backbone/task split; it uses
only the flat constructor arguments that every version accepts. Never re-record them: they are the evidence that the
split changed no number.
"""

import hashlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vqkeras.models import VQGAN  # noqa: E402
from vqkeras.models import VQVAE  # noqa: E402

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
STEPS = 3
ARCHITECTURE = dict(image_channels=1, num_embeddings=16, latent_dim=8, base_channels=8, channel_multipliers=(1, 2),
                    num_res_blocks=0, use_attention=False)
# Every objective part on: code entropy, R1, DiffAugment, a warm-up that ends inside the run.
VQGAN_ARGS = dict(disc_filters=8, disc_num_layers=2, disc_norm="none", perceptual_weight=0.0, disc_start=0,
                  disc_warmup=1, disc_weight=0.7, r1_weight=2.0, codebook_weight=1.5, disc_loss="non_saturating",
                  diff_augment=("color", "translation", "cutout"), reconstruction_loss="l2",
                  code_entropy_weight=0.2, code_entropy_temperature=3.0)


def images(seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")


def build(kind):
    """A seeded tiny VQVAE or VQGAN, built and compiled (Adam for each player)."""
    keras.utils.clear_session()
    keras.utils.set_random_seed(7)
    if kind == "vqgan":
        model = VQGAN(**ARCHITECTURE, **VQGAN_ARGS)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), discriminator_optimizer=keras.optimizers.Adam(1e-2))
    else:
        model = VQVAE(**ARCHITECTURE, quantizer="gradient", code_entropy_weight=-0.1)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.build(images().shape)
    return model


def run(model, steps=STEPS, prefix=""):
    """`steps` `train_on_batch` calls; returns `{prefix}step{i}/{log}` and `{prefix}weight/{path}` arrays."""
    record = {}
    for step in range(steps):
        logs = model.train_on_batch(images(step), return_dict=True)
        record.update({f"{prefix}step{step}/{name}": np.asarray(value) for name, value in logs.items()})
    record[f"{prefix}weights"] = weight_digests(model)
    return record


def weight_digests(model):
    """The sorted SHA-256 digests of every weight's shape and bytes: equal for equal weights, whatever their paths."""
    return np.array(sorted(hashlib.sha256(repr(v.shape).encode() + v.numpy().tobytes()).hexdigest()
                           for v in model.weights))


def main():
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    record = {}
    for kind in ("vqvae", "vqgan"):
        record.update(run(build(kind), prefix=f"{kind}/"))
    path = os.path.join(FIXTURE_DIR, "tiny_vqgan.keras")
    gan = build("vqgan")
    run(gan)
    gan.save(path)
    gan = keras.saving.load_model(path)
    record["saved/reconstructions"] = gan(images(9), training=False).numpy()
    record.update(run(gan, steps=1, prefix="saved/"))
    np.savez(os.path.join(FIXTURE_DIR, "training_steps.npz"), **record)
    print(f"wrote {len(record)} arrays")


if __name__ == "__main__":
    main()
