"""Roofline of the VQ-VAE training step on this machine.

Usage (from the repository root):

    python benchmarks/roofline.py [--batch-size 64] [--steps 20] [--matmul-size 2048]

Method:
- FLOPs per training step are counted from the graph: the step (`VQVAE.train_step`: forward, `GradientTape`
  backward, Adam update) is traced once as a `tf.function` with a fixed input shape, and
  `tf.compat.v1.profiler.profile(graph, options=ProfileOptionBuilder.float_operation())` sums the registered FLOP
  statistics of every op in the concrete function's graph (convolutions and their two backprop ops, matmuls,
  elementwise ops that register statistics). Ops without registered statistics count 0, so the figure is a lower bound
  dominated by the convolutions; the per-op-type breakdown is printed.
- Achieved FLOP/s = graph FLOPs ÷ measured seconds per step (median of `--steps` steps after warm-up).
- Machine peak = FLOP/s of a large dense float32 `tf.matmul` (`2·n³` FLOPs for n×n) in the same process, median of
  several runs. Ratio = achieved ÷ matmul FLOP/s. Forward-only time is measured too, to show where the time goes.

The model is a small VQ-VAE (`CONFIG`: 28×28×1 Fashion-MNIST-sized inputs, f = 4, K = 64). Prints the figures and
writes them as a section of `docs/benchmarks.md`.
"""

import argparse
import datetime
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import vqkeras  # noqa: E402
from common import DOCS_PATH  # noqa: E402  (sibling script module)
from common import machine_line  # noqa: E402
from common import matmul_gflops  # noqa: E402
from common import write_section  # noqa: E402

CONFIG = dict(image_channels=1, num_embeddings=64, latent_dim=32, base_channels=16, channel_multipliers=(1, 2, 2),
              num_res_blocks=1, use_attention=False, reconstruction_loss="l2")


def graph_flops(concrete_function):
    """Total and per-op-type FLOPs of a concrete function's graph, from the TF v1 profiler."""
    opts = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
            .with_empty_output().build())
    by_op = tf.compat.v1.profiler.profile(concrete_function.graph, cmd="op", options=opts)
    breakdown = {child.name: child.total_float_ops for child in by_op.children if child.total_float_ops}
    return by_op.total_float_ops, breakdown


def median_seconds(fn, repeats, *args):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--output", default=DOCS_PATH, help="Markdown file whose section is rewritten")
    args = parser.parse_args()

    # 1. Machine: dense float32 matmul.
    n = args.matmul_size
    matmul_flops = matmul_gflops(n, repeats=7) * 1e9

    # 2. The training step, traced once with a fixed shape.
    keras.utils.set_random_seed(0)
    model = vqkeras.models.VQVAE(**CONFIG)
    model.compile(optimizer=keras.optimizers.Adam(5e-4), jit_compile=False)
    images = tf.random.uniform((args.batch_size, 28, 28, 1), -1, 1)
    model(images[:1])
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step)
    forward = tf.function(lambda x: model.forward(x, training=False)["reconstructions"])
    step_cf = step.get_concrete_function(tf.TensorSpec(images.shape, tf.float32))
    forward_cf = forward.get_concrete_function(tf.TensorSpec(images.shape, tf.float32))
    step_flops, breakdown = graph_flops(step_cf)
    forward_flops, _ = graph_flops(forward_cf)
    for _ in range(3):
        step(images)
        forward(images)
    step_seconds = median_seconds(step, args.steps, images)
    forward_seconds = median_seconds(forward, args.steps, images)
    # Matmul again after the model, in case the machine's load changed during the run.
    matmul_flops_after = matmul_gflops(n, repeats=7) * 1e9

    achieved = step_flops / step_seconds
    peak = max(matmul_flops, matmul_flops_after)
    print(f"Model: VQVAE {CONFIG}, batch {args.batch_size}, {model.count_params():,} parameters")
    print(f"Graph FLOPs per training step: {step_flops / 1e9:.2f} GFLOP (forward only: {forward_flops / 1e9:.2f})")
    print("FLOPs by op type:")
    for name, flops in sorted(breakdown.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {name:28s} {flops / 1e9:8.3f} GFLOP  {100 * flops / step_flops:5.1f}%")
    print(f"Training step: {step_seconds * 1e3:.1f} ms (median of {args.steps}); achieved {achieved / 1e9:.1f} GFLOP/s")
    print(f"Forward only:  {forward_seconds * 1e3:.1f} ms; achieved {forward_flops / forward_seconds / 1e9:.1f} GFLOP/s")
    print(f"Dense matmul {n}×{n}: {matmul_flops / 1e9:.1f} GFLOP/s before, {matmul_flops_after / 1e9:.1f} after")
    print(f"Roofline ratio (achieved ÷ best matmul): {achieved / peak:.3f}  (target ≥ 0.3)")
    lines = [
        "## Roofline",
        "",
        f"Command: `python benchmarks/roofline.py --steps {args.steps}`. Date: {datetime.date.today().isoformat()}. "
        f"Machine: {machine_line()}, no GPU.",
        "",
        f"Model: `VQVAE({', '.join(f'{k}={v!r}' for k, v in CONFIG.items())})`, {model.count_params():,} parameters, "
        f"28×28×1 inputs, batch {args.batch_size}, Adam, `jit_compile=False`. FLOPs are counted from the traced "
        "graph of `train_step` (`tf.compat.v1.profiler`, registered FLOP statistics: the convolutions and the "
        "quantizer's matmul; GroupNorm, swish and Adam's updates count 0, so the figure is a lower bound). Peak: a "
        f"{n}×{n} float32 `tf.matmul` (`2n³` FLOPs) timed in the same process before and after the model.",
        "",
        "| Figure | Value |",
        "|---|---:|",
        f"| Graph FLOPs per training step | {step_flops / 1e9:.2f} GFLOP (forward only {forward_flops / 1e9:.2f}) |",
        f"| Training step, median of {args.steps} | {step_seconds * 1e3:.1f} ms → **{achieved / 1e9:.1f} GFLOP/s** |",
        f"| Forward only | {forward_seconds * 1e3:.1f} ms → {forward_flops / forward_seconds / 1e9:.1f} GFLOP/s |",
        f"| Dense matmul {n}×{n} | {matmul_flops / 1e9:.1f} GFLOP/s before, {matmul_flops_after / 1e9:.1f} after |",
        f"| **Roofline ratio** (achieved ÷ best matmul) | **{achieved / peak:.2f}** |",
    ]
    write_section(args.output, "\n".join(lines), lines[0])


if __name__ == "__main__":
    main()
