"""`vqkeras.layers.GroupNorm` against Keras' `GroupNormalization`: forward + backward time and error against float64.

Run from a frozen copy of the repository root, with that copy first on the path:

    PYTHONPATH=. python benchmarks/group_norm.py

For each activation shape (32 groups, random gamma and beta, inputs with per-channel offsets), one step is a
`tf.function` computing the layer's output and the gradients of `sum(output · w)` with respect to the input, gamma
and beta. The two layers alternate; the figure is the median of `--repeats` steps after 2 untimed ones. The error
is the largest absolute difference of the forward output from a float64 NumPy group normalization. Prints Markdown.
"""

import argparse
import datetime
import os
import statistics
import time

from common import machine_line  # noqa: E402  (sibling script module)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

SHAPES = [(1, 256, 256, 128), (1, 128, 128, 256), (1, 16, 16, 512), (16, 32, 32, 64), (64, 28, 28, 32)]
GROUPS = 32


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.repeats < 1 or args.threads < 1:
        parser.error(f"--repeats and --threads must be >= 1. Received: {args.repeats}, {args.threads}")

    import keras
    import numpy as np
    import tensorflow as tf

    import vqkeras
    from tests.layers.test_group_norm import numpy_group_norm  # the tests' float64 reference
    from vqkeras.layers import GroupNorm

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    print(f"(vqkeras imported from {os.path.dirname(vqkeras.__file__)})", flush=True)
    print(f"## GroupNorm vs Keras' GroupNormalization\n\nCommand: `python benchmarks/group_norm.py --repeats "
          f"{args.repeats} --threads {args.threads}`. Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
          f" UTC. Machine: {machine_line()}; 1-minute load {os.getloadavg()[0]:.1f} at the start.\n")
    print("| shape | Keras (ms) | GroupNorm (ms) | Keras ÷ GroupNorm | Keras error vs float64 | GroupNorm error |")
    print("|---|---:|---:|---:|---:|---:|", flush=True)
    for shape in SHAPES:
        rng = np.random.default_rng(0)
        channels = shape[-1]
        x = (rng.normal(0.5, 2.0, shape) + rng.normal(0.0, 3.0, channels)).astype("float32")
        w = tf.constant(rng.normal(size=shape).astype("float32"))
        gamma, beta = rng.normal(1.0, 0.3, channels), rng.normal(0.0, 0.3, channels)
        reference = numpy_group_norm(x, GROUPS, gamma, beta, 1e-6)
        steps, errors = {}, {}
        for name, cls in (("keras", keras.layers.GroupNormalization), ("ours", GroupNorm)):
            layer = cls(GROUPS, epsilon=1e-6)
            layer.build(shape)
            layer.set_weights([gamma.astype("float32"), beta.astype("float32")])
            errors[name] = float(np.abs(layer(x).numpy() - reference).max())

            @tf.function
            def step(x, layer=layer):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = tf.reduce_sum(layer(x) * w)
                return tape.gradient(loss, [x, layer.gamma, layer.beta])

            steps[name] = step
        x = tf.constant(x)
        for step in steps.values():
            for _ in range(2):
                step(x)[0].numpy()
        times = {name: [] for name in steps}
        for r in range(args.repeats):
            for name in (list(steps) if r % 2 else list(steps)[::-1]):
                start = time.perf_counter()
                steps[name](x)[0].numpy()
                times[name].append(time.perf_counter() - start)
        keras_ms, ours_ms = (statistics.median(times[name]) * 1e3 for name in ("keras", "ours"))
        print(f"| {shape} | {keras_ms:.1f} | {ours_ms:.1f} | **{keras_ms / ours_ms:.2f}×** | {errors['keras']:.1e} "
              f"| {errors['ours']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
