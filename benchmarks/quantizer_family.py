"""Step time and peak memory of the vqkeras quantizer family against vector-quantize-pytorch (issue 37), and VQ-EMA's
distance stage against the machine's dense-matmul rate.

Run from a frozen copy of the repository root (needs the `test` extra: torch, vector-quantize-pytorch), with that
copy first on the path (an editable install would otherwise import another tree):

    PYTHONPATH=. python benchmarks/quantizer_family.py

One step runs the layer in training mode on `N` float32 vectors and returns the gradient of
`sum(output · w) + aux loss` w.r.t. the input (ours: a `tf.function`; theirs: eager PyTorch, `backward()`); codebook
updates (EMA) happen inside the step. Both sides use the same number of threads (`--threads`, default 2). After
warm-up, steps alternate between the two implementations and the figure is the median. Straight-through gradients
on both sides (`rotation_trick=False` for theirs).

Peak memory: each (implementation, row) runs in its own subprocess; the figure is the peak RSS (`VmHWM`) after
`--memory-steps` steps (tracing included) minus the baseline taken after imports, input creation and layer
construction, where the high-water mark is reset through `/proc/self/clear_refs` (as in `benchmarks/quantizer.py`). A subprocess that fails
(e.g. out of memory under `--memory-limit-gib`, a cap on its data segment that keeps the shared machine safe) is
reported as such.

Rows: VQ-EMA at K = 512 / 16384 (D = 64), FSQ [8,5,5,5] and [8,8,8,5,5,5], LFQ with 10 and 16 bits, ResidualVQ of
depth 4 at K = 1024 (D = 64). Their LFQ at 16 bits forms `N × 2^16` probabilities (4 GiB at N = 16384, several
buffers of it with the gradient), so at N it runs only with `--their-lfq16`; an extra row compares both at
`--lfq16-n` vectors (default 1024), where theirs fits (in memory and in time: several seconds a step). Ours splits the bits into groups of at most 10
(`entropy_group_bits`).

The output is Markdown, ready for `docs/benchmarks.md`.

The distance stage: `2·N·K·D` FLOP per VQ-EMA step at K = 4096, as a fraction of the FLOP rate of a 2048² float32
matmul timed alternately with it (the header's matmul rate is the one at the start of the run).
"""

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from common import machine_line  # noqa: E402  (sibling script module)
from common import max_rss_mib  # noqa: E402
from common import reset_peak_rss  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROWS = [
    ("VQ-EMA K=512", "vq", {"k": 512}),
    ("VQ-EMA K=16384", "vq", {"k": 16384}),
    ("FSQ [8,5,5,5]", "fsq", {"levels": [8, 5, 5, 5]}),
    ("FSQ [8,8,8,5,5,5]", "fsq", {"levels": [8, 8, 8, 5, 5, 5]}),
    ("LFQ 10 bits", "lfq", {"bits": 10}),
    ("LFQ 16 bits", "lfq", {"bits": 16}),
    ("LFQ 16 bits", "lfq", {"bits": 16, "small_n": True}),  # at --lfq16-n vectors, where theirs fits
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


MATMUL_FLOP = 2 * 2048**3


def matmul_step():
    """`(step, inputs)`: a 2048² float32 matmul in TensorFlow, `MATMUL_FLOP` per call."""
    import tensorflow as tf

    mm = tf.function(lambda a: tf.matmul(a, a))
    return lambda a: mm(a).numpy(), (tf.random.normal((2048, 2048)),)


def distance_matmul_step(n, k):
    """`(step, inputs)`: only the distance matmuls of VQ-EMA's nearest-code search at K = `k` on `n` rows, in the
    library's row chunks, with no argmin: the ceiling the stage could reach with a free argmin, `2·n·k·D` per call."""
    import tensorflow as tf

    from vqkeras.quantizers import base_quantizer

    rows = max(base_quantizer.CHUNK_MIN_ROWS, base_quantizer.CHUNK_ELEMENTS // k)
    chunks = tf.random.normal((n // rows, rows, D))
    codebook = tf.random.normal((k, D))

    @tf.function
    def step(chunks, codebook):
        # One element of each chunk's scores is kept, so the matmul cannot be pruned; chunks run one at a time.
        return tf.map_fn(lambda c: tf.matmul(c, codebook, transpose_b=True)[0, 0], chunks, parallel_iterations=1)

    return lambda *a: step(*a).numpy(), (chunks, codebook)


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


def configure_threads(threads):
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    torch.set_num_threads(threads)


def row_inputs(kind, options, n):
    """Float32 NumPy `(x, w)`, `n` rows of the row's width; the same for every implementation."""
    import numpy as np

    rng = np.random.default_rng(0)
    d = width(kind, options)
    x = rng.normal(size=(n, d)).astype("float32") * (0.1 if kind == "lfq" else 1.0)
    return x, rng.normal(size=(n, d)).astype("float32")


def runs_theirs(kind, options, args):
    return not (kind == "lfq" and options["bits"] > 12 and not options.get("small_n") and not args.their_lfq16)


def make_run(impl, kind, options, x, w):
    """A no-argument callable running one step of `impl` on the NumPy inputs (converted here, once)."""
    if impl == "ours":
        import tensorflow as tf

        step, inputs = ours_step(kind, options), (tf.constant(x), tf.constant(w))
    else:
        import torch

        step, inputs = their_step(kind, options), (torch.tensor(x[None]), torch.tensor(w[None]))
    return lambda: step(*inputs)


def memory_child(impl, row, args):
    """Runs in a subprocess: prints JSON with the peak RSS increase (MiB) of `--memory-steps` steps."""
    if args.memory_limit_gib:
        limit = int(args.memory_limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    configure_threads(args.threads)
    _, kind, options = ROWS[row]
    x, w = row_inputs(kind, options, row_n(options, args))
    run = make_run(impl, kind, options, x, w)
    reset_peak_rss()  # drop the import-time high-water mark: the baseline is the RSS at this point
    baseline = max_rss_mib()
    for _ in range(args.memory_steps):
        run()
    print(json.dumps({"baseline_mib": baseline, "peak_mib": max_rss_mib()}))


def measure_memory(impl, row, args):
    """Peak RSS increase in MiB of `impl` on `ROWS[row]`, from a fresh subprocess; `None` if it failed."""
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", impl, str(row), "-n", str(args.n),
           "--lfq16-n", str(args.lfq16_n), "--threads", str(args.threads), "--memory-steps", str(args.memory_steps),
           "--memory-limit-gib", str(args.memory_limit_gib)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        print(f"(memory subprocess {impl} {ROWS[row][0]} failed: {proc.stderr.strip().splitlines()[-1:]})",
              file=sys.stderr, flush=True)
        return None
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return record["peak_mib"] - record["baseline_mib"]


def row_n(options, args):
    return args.lfq16_n if options.get("small_n") else args.n


def ratio_text(ours, theirs):
    if ours is None or not theirs:
        return "—"
    ratio = ours / theirs
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def mib_text(value, ran):
    return f"{value:.0f}" if value is not None else ("failed" if ran else "not run")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=16384, help="number of input vectors N")
    parser.add_argument("--threads", type=int, default=2, help="threads of both TensorFlow and PyTorch")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--their-lfq16", action="store_true", help="also run their LFQ at 16 bits at N (> 8 GiB)")
    parser.add_argument("--lfq16-n", type=int, default=1024, help="N of the extra LFQ 16-bit row run by both")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps run in each memory subprocess")
    parser.add_argument("--memory-limit-gib", type=float, default=12.0,
                        help="data-segment cap of each memory subprocess (0: none)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--distance-only", action="store_true", help="only the distance stage, not the table")
    parser.add_argument("--memory-child", nargs=2, metavar=("IMPL", "ROW"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("n", "threads", "repeats", "lfq16_n", "memory_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1. Received: {getattr(args, name)}")
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]), args)
        return

    import numpy as np
    import tensorflow as tf

    import vqkeras

    configure_threads(args.threads)
    # From a frozen copy, set PYTHONPATH to it: an editable install would import another tree.
    print(f"(vqkeras imported from {os.path.dirname(vqkeras.__file__)})", file=sys.stderr, flush=True)
    command = "python benchmarks/quantizer_family.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    mm, mm_inputs = matmul_step()
    rate = MATMUL_FLOP / time_pair({"mm": mm}, {"mm": mm_inputs}, args.repeats, 1)["mm"]
    print(f"## Quantizer family vs vector-quantize-pytorch\n\nCommand: `{command}`. Date: "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {machine_line()}, "
          f"PyTorch {__import__('torch').__version__}, vector-quantize-pytorch "
          f"{__import__('importlib.metadata').metadata.version('vector-quantize-pytorch')}; 1-minute load "
          f"{os.getloadavg()[0]:.1f} at the start.\n")
    print(f"2048² float32 matmul: {rate / 1e9:.1f} GFLOP/s. {args.threads} threads each. Step time: median of "
          f"{args.repeats} alternated steps after {args.warmup} untimed ones. Peak memory: peak-RSS increase over "
          f"{args.memory_steps} steps, one subprocess per cell.\n", flush=True)
    if not args.distance_only:
        print("| row | N | ours (ms) | vector-quantize-pytorch (ms) | ours / theirs | ours peak (MiB) "
              "| theirs peak (MiB) | ours / theirs |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for row, (label, kind, options) in enumerate([] if args.distance_only else ROWS):
        n = row_n(options, args)
        x, w = row_inputs(kind, options, n)
        impls = ["ours"] + (["theirs"] if runs_theirs(kind, options, args) else [])
        memory = {impl: None if args.no_memory else measure_memory(impl, row, args) for impl in impls}
        runs = {impl: make_run(impl, kind, options, x, w) for impl in impls}
        medians = time_pair({impl: lambda run=run: run() for impl, run in runs.items()},
                            {impl: () for impl in impls}, args.repeats, args.warmup)
        theirs = medians.get("theirs")
        theirs_text = f"{theirs * 1e3:.1f}" if theirs else "not run (N×2^16 probabilities)"
        print(f"| {label} | {n} | {medians['ours'] * 1e3:.1f} | {theirs_text} | {ratio_text(medians['ours'], theirs)} "
              f"| {mib_text(memory['ours'], not args.no_memory)} "
              f"| {mib_text(memory.get('theirs'), 'theirs' in impls and not args.no_memory)} "
              f"| {ratio_text(memory['ours'], memory.get('theirs'))} |", flush=True)
        del runs

    k = 4096
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(args.n, D)).astype("float32"))
    w = tf.constant(rng.normal(size=(args.n, D)).astype("float32"))
    # The step and the matmul alternate, so both see the same load.
    bare, bare_inputs = distance_matmul_step(args.n, k)
    medians = time_pair({"ours": ours_step("vq", {"k": k}), "mm": mm, "bare": bare},
                        {"ours": (x, w), "mm": mm_inputs, "bare": bare_inputs}, args.repeats, args.warmup)
    rate, distance_flop = MATMUL_FLOP / medians["mm"], 2 * args.n * k * D
    distance_rate, bare_rate = distance_flop / medians["ours"], distance_flop / medians["bare"]
    print(f"\nVQ-EMA K={k}: {medians['ours'] * 1e3:.1f} ms per step; distance stage 2·N·K·D at "
          f"{distance_rate / 1e9:.1f} GFLOP/s against {rate / 1e9:.1f} GFLOP/s for the 2048² matmul alternated with "
          f"it: **{distance_rate / rate:.2f}** of the matmul rate. Its distance matmuls alone (same chunks, no argmin, "
          f"no update: the stage's ceiling in TensorFlow): {medians['bare'] * 1e3:.1f} ms, {bare_rate / 1e9:.1f} "
          f"GFLOP/s, **{bare_rate / rate:.2f}** of the matmul rate. 1-minute load {os.getloadavg()[0]:.1f} at the end.")


if __name__ == "__main__":
    main()
