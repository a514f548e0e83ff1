"""Training-step time of VQ-GAN against VQ-VAE (same architecture), with the perceptual loss's share broken out.

Run from the repository root:

    python benchmarks/vqgan_step.py

All models are built in one process with the same architecture and seed. Each is compiled (Adam, `jit_compile=False`)
and warmed up with `train_on_batch` (tracing + untimed steps); then the timed `train_on_batch` calls alternate
between the models (the order rotates every round) and each figure is the median. Variants:

- `VQVAE`: reconstruction + quantizer loss, one optimizer;
- `VQGAN, full`: perceptual loss + discriminator trained from step 0 (`disc_start=0`);
- `VQGAN, perceptual_weight=0`: the same without the perceptual loss (its backbone isn't even built);
- `VQGAN, before disc_start`: perceptual loss on, discriminator not yet trained (the first `disc_start` steps);
- `perceptual loss alone`: a `tf.function` with the perceptual loss's forward and backward pass (gradient w.r.t.
  the reconstructions), on the same batch.

Results are printed and written as a section of `docs/benchmarks.md`.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vqkeras.losses import PerceptualLoss  # noqa: E402
from vqkeras.models import VQGAN  # noqa: E402
from vqkeras.models import VQVAE  # noqa: E402

from common import write_section  # noqa: E402  (sibling script module)

SECTION = "## VQ-GAN vs VQ-VAE training step"


def build_models(arch, disc_start_off):
    """The compared models, each compiled; same seed, so the shared parts start from the same weights."""

    def adam():
        return keras.optimizers.Adam(2e-4, beta_1=0.5)

    models = {}
    keras.utils.set_random_seed(0)
    models["VQVAE"] = VQVAE(**arch)
    models["VQVAE"].compile(optimizer=adam(), jit_compile=False)
    for name, kwargs in (
        ("VQGAN, full", dict(perceptual_weight=1.0, disc_start=0)),
        ("VQGAN, perceptual_weight=0", dict(perceptual_weight=0.0, disc_start=0)),
        ("VQGAN, before disc_start", dict(perceptual_weight=1.0, disc_start=disc_start_off)),
    ):
        keras.utils.set_random_seed(0)
        models[name] = VQGAN(**arch, **kwargs)
        models[name].compile(optimizer=adam(), discriminator_optimizer=adam(), jit_compile=False)
    return models


def perceptual_step(images):
    """`tf.function` running the perceptual loss forward and backward (gradient w.r.t. the reconstructions)."""
    loss_fn = PerceptualLoss()
    fake = tf.Variable(tf.clip_by_value(images + 0.1 * tf.random.normal(images.shape, seed=1), -1.0, 1.0))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(images, fake))
        return tape.gradient(loss, fake)

    return step


def run(args):
    arch = dict(
        image_channels=3,
        num_embeddings=args.num_embeddings,
        latent_dim=args.latent_dim,
        base_channels=args.base_channels,
        channel_multipliers=tuple(args.channel_multipliers),
        num_res_blocks=args.num_res_blocks,
    )
    images = tf.random.uniform((args.batch, args.size, args.size, 3), -1.0, 1.0, seed=0)
    # The warm-up steps must all stay before disc_start for the "before disc_start" variant.
    models = build_models(arch, disc_start_off=10**9)
    calls = {name: (lambda m=model: m.train_on_batch(images)) for name, model in models.items()}
    calls["perceptual loss alone"] = perceptual_step(images)
    for name, fn in calls.items():
        for _ in range(1 + args.warmup):
            np.asarray(tf.nest.flatten(fn())[0])
        print(f"warmed up: {name}", flush=True)
    names = list(calls)
    times = {name: [] for name in names}
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            np.asarray(tf.nest.flatten(calls[name]())[0])
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    params = {name: m.count_params() for name, m in models.items()}
    params["VQGAN discriminator"] = models["VQGAN, full"].discriminator.count_params()
    return arch, medians, params


def report(args, arch, medians, params):
    vae = medians["VQVAE"]
    full = medians["VQGAN, full"]
    no_perc = medians["VQGAN, perceptual_weight=0"]
    before = medians["VQGAN, before disc_start"]
    perc = medians["perceptual loss alone"]
    rows = [
        ("VQVAE", vae, "reconstruction + quantizer loss"),
        ("VQGAN, full", full, "perceptual loss + adaptive weight + discriminator update (`disc_start=0`)"),
        ("VQGAN, perceptual_weight=0", no_perc, "discriminator on, no perceptual loss"),
        ("VQGAN, before disc_start", before, "perceptual loss on, discriminator not trained yet"),
        ("perceptual loss alone", perc, "EfficientNet-Lite0 LPIPS forward + backward, gradient w.r.t. x̂"),
    ]
    lines = [
        "| Step | Seconds (median) | × VQVAE | What it includes |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {name} | {s:.3f} | {s / vae:.2f}× | {what} |" for name, s, what in rows]
    shares = [
        f"- VQ-GAN step / VQ-VAE step: **{full / vae:.2f}×**.",
        f"- Perceptual loss share of the full VQ-GAN step, from the two VQ-GAN variants: (full − perceptual_weight=0) "
        f"/ full = {(full - no_perc) / full:.0%} ({(full - no_perc) * 1e3:.0f} ms).",
        f"- Perceptual loss forward + backward alone: {perc * 1e3:.0f} ms = {perc / full:.0%} of the full VQ-GAN step.",
        f"- Discriminator training (its real + fake passes and update) from the two VQ-GAN variants: "
        f"(full − before disc_start) / full = {(full - before) / full:.0%} ({(full - before) * 1e3:.0f} ms).",
        f"- GAN overhead without the perceptual loss (perceptual_weight=0 step − VQ-VAE step): "
        f"{(no_perc - vae) * 1e3:.0f} ms = {(no_perc - vae) / vae:.0%} of the VQ-VAE step (discriminator training, "
        f"the generator's pass through D, the adaptive weight's two last-layer gradients).",
        "- The differences between steps are medians of few noisy runs: read them to ±10% of a step. The perceptual "
        "share inferred from the two VQ-GAN variants counts the perceptual loss's backward twice (once inside "
        "`‖∇_w L_nll‖` for the adaptive weight, once in the generator update), so it is above the loss alone.",
    ]
    return "\n".join(lines), "\n".join(shares)




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--base-channels", type=int, default=64)
    parser.add_argument("--channel-multipliers", type=int, nargs="+", default=[1, 2, 2, 4])
    parser.add_argument("--num-res-blocks", type=int, default=2)
    parser.add_argument("--num-embeddings", type=int, default=512)
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per variant (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the tracing step")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fast smoke run: batch 2, 32×32, base_channels 32, 1 res block, 2 repeats, no docs written",
    )
    parser.add_argument(
        "--output", default=None, help="Markdown file to update (default docs/benchmarks.md; none with --quick)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.size, args.base_channels, args.num_res_blocks = 2, 32, 32, 1
        args.repeats, args.warmup = 2, 1
    output = args.output or (None if args.quick else os.path.join("docs", "benchmarks.md"))
    command = "python benchmarks/vqgan_step.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()

    arch, medians, params = run(args)
    result_table, shares = report(args, arch, medians, params)
    print()
    print(result_table)
    print()
    print(shares)
    if not output:
        return
    config = ", ".join(f"{k}={v}" for k, v in arch.items())
    section = "\n".join(
        [
            SECTION,
            "",
            f"Command: `{command}` (from the repository root, with `pip install -e .[bench]`).",
            "",
            f"Date: {datetime.date.today().isoformat()}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"no GPU, shared with other jobs; TensorFlow {tf.__version__}, Keras {keras.__version__}.",
            "",
            f"Config: {args.size}×{args.size} RGB images, batch {args.batch}, {config}, use_attention=True, EMA "
            f"quantizer; VQ-GAN: EfficientNet-Lite0 perceptual loss, PatchDiscriminator (3 layers, 64 filters, batch "
            f"norm, {params['VQGAN discriminator']:,} parameters), hinge loss, Adam for both players, "
            f"`jit_compile=False`. VQ-VAE: {params['VQVAE']:,} parameters.",
            "",
            f"Each figure is the median of {args.repeats} timed `train_on_batch` calls after tracing and "
            f"{args.warmup} untimed calls; the five variants are alternated (rotating order) in one process, on the "
            "same random batch.",
            "",
            result_table,
            "",
            shares,
            "",
        ]
    )
    write_section(output, section, SECTION)
    print(f"\nWrote {output}")


if __name__ == "__main__":
    main()
