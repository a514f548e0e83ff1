"""Step time of the vqkeras quantizer family against vector-quantize-pytorch (issue 37), and VQ-EMA's distance stage
against the machine's dense-matmul rate.

Run from a frozen copy of the repository root (needs the `test` extra: torch, vector-quantize-pytorch):

    python benchmarks/quantizer_family.py

One step runs the layer in training mode on `N` float32 vectors and returns the gradient of
`sum(output · w) + aux loss` w.r.t. the input (ours: a `tf.function`; theirs: eager PyTorch, `backward()`); codebook
updates (EMA) happen inside the step. Both sides use the same number of threads (`--threads`, default 2). After
warm-up, steps alternate between the two implementations and the figure is the median. Straight-through gradients
on both sides (`rotation_trick=False` for theirs).

Rows: VQ-EMA at K = 512 / 16384 (D = 64), FSQ [8,5,5,5] and [8,8,8,5,5,5], LFQ with 10 and 16 bits, ResidualVQ of
depth 4 at K = 1024 (D = 64). Their LFQ at 16 bits forms `N × 2^16` probabilities (4 GiB at N = 16384, several
buffers of it with the gradient), so it runs only with `--their-lfq16`; ours splits the bits into groups of at most
10 (`entropy_group_bits`).

The distance stage: `2·N·K·D` FLOP per VQ-EMA step at K = 4096, as a fraction of the FLOP rate of a 2048² float32
matmul measured in the same run.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROWS = [
    ("VQ-EMA K=512", "vq", {"k": 512}),
    ("VQ-EMA K=16384", "vq", {"k": 16384}),
    ("FSQ [8,5,5,5]", "fsq", {"levels": [8, 5, 5, 5]}),
    ("FSQ [8,8,8,5,5,5]", "fsq", {"levels": [8, 8, 8, 5, 5, 5]}),
    ("LFQ 10 bits", "lfq", {"bits": 10}),
    ("LFQ 16 bits", "lfq", {"bits": 16}),
    ("ResidualVQ 4×1024", "rvq", {"k": 1024, "depth": 4}),
]
D = 64


def width(kind, options):
    return {"fsq": lambda: len(options["levels"]), "lfq": lambda: options["bits"]}.get(kind, lambda: D)()


def ours_step(kind, options):
    import tensorflow as tf

    from vqkeras import quantizers

    if kind == "vq":
        layer = quantizers.VectorQuantizerEMA(options["k"], D, dead_code_threshold=0.0)
    elif kind == "fsq":
        layer = quantizers.FSQ(options["levels"])
    elif kind == "lfq":
        layer = quantizers.LFQ(options["bits"])
    else:
        stage = quantizers.VectorQuantizerEMA(options["k"], D, dead_code_threshold=0.0)
        layer = quantizers.ResidualQuantizer(stage, depth=options["depth"])

    @tf.function
    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer.quantize_with_stats(x, training=True)
            objective = tf.reduce_sum(out["quantized"] * w) + out["loss"]
        return tape.gradient(objective, x)

    return lambda x, w: step(x, w).numpy()


def their_step(kind, options):
    import vector_quantize_pytorch as vqp

    if kind == "vq":
        layer = vqp.VectorQuantize(dim=D, codebook_size=options["k"], decay=0.99, commitment_weight=0.25,
                                   rotation_trick=False)
    elif kind == "fsq":
        layer = vqp.FSQ(levels=options["levels"])
    elif kind == "lfq":
        layer = vqp.LFQ(dim=options["bits"], codebook_size=2 ** options["bits"])
    else:
        layer = vqp.ResidualVQ(dim=D, codebook_size=options["k"], num_quantizers=options["depth"], decay=0.99,
                               commitment_weight=0.25, rotation_trick=False)
    layer.train()

    def step(x, w):
        x = x.detach().requires_grad_(True)
        out = layer(x)
        loss = out[2].sum() if len(out) > 2 else 0.0
        ((out[0] * w).sum() + loss).backward()
        return x.grad.numpy()

    return step


def matmul_rate(threads, repeats=7):
    """FLOP/s of a 2048² float32 matmul in TensorFlow (median of `repeats`)."""
    import tensorflow as tf

    a = tf.random.normal((2048, 2048))
    mm = tf.function(lambda a: tf.matmul(a, a))
    mm(a).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mm(a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * 2048**3 / statistics.median(times)


def time_pair(steps, inputs, repeats, warmup):
    for name, step in steps.items():
        for _ in range(warmup):
            step(*inputs[name])
    times = {name: [] for name in steps}
    names = list(steps)
    for r in range(repeats):
        for name in names[r % 2:] + names[:r % 2]:
            start = time.perf_counter()
            steps[name](*inputs[name])
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=16384, help="number of input vectors N")
    parser.add_argument("--threads", type=int, default=2, help="threads of both TensorFlow and PyTorch")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--their-lfq16", action="store_true", help="also run their LFQ at 16 bits (> 8 GiB)")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)

    rate = matmul_rate(args.threads)
    print(f"2048² matmul: {rate / 1e9:.1f} GFLOP/s; N = {args.n}, {args.threads} threads each")
    print("| row | ours (ms) | vector-quantize-pytorch (ms) | ours / theirs |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for label, kind, options in ROWS:
        d = width(kind, options)
        x = rng.normal(size=(args.n, d)).astype("float32") * (0.1 if kind == "lfq" else 1.0)
        w = rng.normal(size=(args.n, d)).astype("float32")
        steps = {"ours": ours_step(kind, options)}
        inputs = {"ours": (tf.constant(x), tf.constant(w))}
        if not (kind == "lfq" and options["bits"] > 12 and not args.their_lfq16):
            steps["theirs"] = their_step(kind, options)
            inputs["theirs"] = (torch.tensor(x[None]), torch.tensor(w[None]))
        medians = time_pair(steps, inputs, args.repeats, args.warmup)
        theirs = medians.get("theirs")
        ratio = f"{medians['ours'] / theirs:.2f}×" if theirs else "—"
        theirs_text = f"{theirs * 1e3:.1f}" if theirs else "not run (N×2^16 probabilities)"
        print(f"| {label} | {medians['ours'] * 1e3:.1f} | {theirs_text} | {ratio} |", flush=True)

    k = 4096
    x = tf.constant(rng.normal(size=(args.n, D)).astype("float32"))
    w = tf.constant(rng.normal(size=(args.n, D)).astype("float32"))
    seconds = time_pair({"ours": ours_step("vq", {"k": k})}, {"ours": (x, w)}, args.repeats, args.warmup)["ours"]
    distance_rate = 2 * args.n * k * D / seconds
    print(f"VQ-EMA K={k}: {seconds * 1e3:.1f} ms per step; distance stage 2·N·K·D at {distance_rate / 1e9:.1f} GFLOP/s "
          f"= {distance_rate / rate:.2f} of the matmul rate")


if __name__ == "__main__":
    main()
