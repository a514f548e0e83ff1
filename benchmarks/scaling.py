"""Training-step time with XLA on vs off, and float32 vs mixed_bfloat16, side by side.

Run from the repository root:

    python benchmarks/scaling.py [--steps 20] [--batch-size 16] [--image-size 32]

For each model (`VQVAE`, and `VQGAN` with its discriminator on and the perceptual loss off), four variants are built in
one process with the same architecture and seed: {float32, mixed_bfloat16} × {jit_compile=False, True}. Each is
compiled (Adam) and warmed up with `train_on_batch` (tracing/compilation + 3 untimed steps); then the timed
`train_on_batch` calls alternate between the variants (the order rotates every round), and each figure is the median.
The first-call time (tracing, plus XLA compilation when on) is reported too. Prints the table and writes it as a
section of `docs/benchmarks.md`.
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vqkeras.models import VQGAN  # noqa: E402
from vqkeras.models import VQVAE  # noqa: E402
from common import DOCS_PATH  # noqa: E402  (sibling script module)
from common import write_section  # noqa: E402

ARCHITECTURE = dict(
    image_channels=3,
    num_embeddings=512,
    latent_dim=32,
    base_channels=32,
    channel_multipliers=(1, 2, 2),
    num_res_blocks=1,
    use_attention=True,
)


def make(model_name, policy, jit_compile, input_shape):
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    if model_name == "VQVAE":
        model = VQVAE(**ARCHITECTURE)
        model.compile(optimizer=keras.optimizers.Adam(2e-4), jit_compile=jit_compile)
    else:
        model = VQGAN(**ARCHITECTURE, perceptual_weight=0.0, disc_start=0, disc_filters=32, disc_num_layers=2)
        model.compile(
            optimizer=keras.optimizers.Adam(2e-4),
            discriminator_optimizer=keras.optimizers.Adam(2e-4),
            jit_compile=jit_compile,
        )
    # Build under the policy: some sub-layers are created in build() and take the global policy of that moment.
    model.build_for_training(input_shape)
    keras.mixed_precision.set_global_policy("float32")
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--models", default="VQVAE,VQGAN")
    parser.add_argument("--output", default=DOCS_PATH, help="Markdown file whose section is rewritten")
    args = parser.parse_args()

    images = np.random.default_rng(0).uniform(-1, 1, (args.batch_size, args.image_size, args.image_size, 3))
    images = images.astype("float32")
    rows = []
    for model_name in args.models.split(","):
        variants = {}
        for policy in ("float32", "mixed_bfloat16"):
            for jit in (False, True):
                model = make(model_name, policy, jit, images.shape)
                start = time.perf_counter()
                model.train_on_batch(images)
                first = time.perf_counter() - start
                for _ in range(3):
                    model.train_on_batch(images)
                variants[(policy, jit)] = (model, first, [])
        keys = list(variants)
        for step in range(args.steps):
            for key in keys[step % len(keys) :] + keys[: step % len(keys)]:
                model, _, times = variants[key]
                start = time.perf_counter()
                logs = model.train_on_batch(images, return_dict=True)
                times.append(time.perf_counter() - start)
                if not np.isfinite(logs["loss"]):
                    raise RuntimeError(f"{model_name} {key}: non-finite loss {logs['loss']}")
        base = statistics.median(variants[("float32", False)][2])
        for (policy, jit), (_, first, times) in variants.items():
            median = statistics.median(times)
            rows.append((model_name, policy, "on" if jit else "off", median * 1e3, base / median, first))

    lines = [
        "## Scaling: XLA and mixed precision",
        "",
        f"Command: `python benchmarks/scaling.py --steps {args.steps}`. Date: {time.strftime('%Y-%m-%d')}. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU; TensorFlow {tf.__version__}, Keras {keras.version()}.",
        "",
        f"Batch {args.batch_size} of {args.image_size}×{args.image_size}×3; median of {args.steps} `train_on_batch` "
        "steps, the four variants of each model alternated (rotating order) after a warm-up. VQVAE/VQGAN: "
        f"{', '.join(f'{k}={v}' for k, v in ARCHITECTURE.items())}; VQGAN with the discriminator on and the "
        "perceptual loss off.",
        "",
        "| Model | Policy | XLA | Step (ms) | Speed-up vs float32, XLA off | First call (s) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for model_name, policy, jit, ms, speedup, first in rows:
        lines.append(f"| {model_name} | {policy} | {jit} | {ms:.1f} | {speedup:.2f}× | {first:.1f} |")
    print("\n".join(lines))
    write_section(args.output, "\n".join(lines), lines[0])


if __name__ == "__main__":
    main()
