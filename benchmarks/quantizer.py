"""Step time and peak memory of `vqkeras.layers.VectorQuantizerEMA` against Sonnet 2's `snt.nets.VectorQuantizerEMA`.

Run from the repository root (needs `pip install dm-sonnet==2.0.2`, the `bench` extra):

    python benchmarks/quantizer.py

One step is a `tf.function` that runs the layer in training mode on an `(N, D)` input under a `GradientTape` and
returns the gradient of `sum(output * w) + layer loss` w.r.t. the input (`w` a fixed random tensor); the EMA
codebook update happens inside the step. Three implementations are compared for each K:

- `sonnet`: `snt.nets.VectorQuantizerEMA` (no dead-code restarts);
- `ours`: `VectorQuantizerEMA(dead_code_threshold=0)`, the headline comparison (same work as Sonnet);
- `ours+restarts`: `VectorQuantizerEMA` with its default dead-code restarts.

Step time: all implementations live in one process; after warm-up (tracing + 2 untimed steps) the timed steps
alternate between implementations (the order rotates every round) and the figure is the median. Peak memory: each
(implementation, K) runs in its own subprocess; the figure is the peak RSS (`VmHWM`, `common.max_rss_mib`) at the end of
the steps (tracing included) minus the RSS right after imports, input creation and layer construction (where the
high-water mark is reset through `/proc/self/clear_refs`, so the import-time peak can't hide the step's growth).
Results are printed and written as a section of `docs/benchmarks.md`.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from common import max_rss_mib  # noqa: E402  (sibling script module)
from common import reset_peak_rss  # noqa: E402
from common import write_section  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

IMPLEMENTATIONS = ("sonnet", "ours", "ours+restarts")
NOTE = """Why the figures look like this. Sonnet materialises the whole N×K distance matrix, a negated copy for its
`argmax(-distances)`, an N×K float32 one-hot `encodings`, and runs a second N×K×D matmul (`flat_inputsᵀ · encodings`)
for the EMA sums. Ours computes the scores in row chunks of at most `max_distance_elements = 2**24` elements (64 MiB),
one chunk at a time, with the `−2·e` and `‖e‖²` terms fused into the matmul (`bias_add`), takes the argmin per
chunk, and does the EMA sums with `unsorted_segment_sum` (N×D work, no one-hot). So our step is one N×K×D matmul
plus one argmin pass, against Sonnet's two matmuls plus several N×K elementwise passes over 1 GiB buffers at
K=16384 (memory-bound, which hurts most on a loaded machine). Where our time goes (profile table): the distance
matmul is about two thirds of our step at K ≥ 4096, the argmin over its output most of the rest, the segment-sum
EMA update a few per cent; a further gain would need a fused matmul-argmin kernel (not in TensorFlow) or a smaller
lookup dimension (`codebook_dim`). With restarts on, the extra cost is a `(K,)` random draw, a gather and three
`tf.where` over the codebook state. Memory: at K=512 peak RSS is dominated by tracing (Keras layer and metric
objects, the graph), which is why ours is above Sonnet there; from K=4096 on, Sonnet's N×K buffers dominate while
ours stays near one 64 MiB chunk plus that overhead."""
SECTION = "## Quantizer vs Sonnet"


def _make_inputs(n, d, seed=0):
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(seed)
    x = rng.normal((n, d))
    w = rng.normal((n, d))
    return x, w


def make_step(impl, k, d, seed=0):
    """A `tf.function` `x, w → grad_x` running one training step of `impl` with `k` codes of size `d`."""
    import tensorflow as tf

    if impl == "sonnet":
        import sonnet as snt

        vq = snt.nets.VectorQuantizerEMA(
            embedding_dim=d, num_embeddings=k, commitment_cost=0.25, decay=0.99, epsilon=1e-5
        )

        def forward(x):
            out = vq(x, is_training=True)
            return out["quantize"], out["loss"]

    else:
        from vqkeras.layers import VectorQuantizerEMA

        kwargs = {} if impl == "ours+restarts" else {"dead_code_threshold": 0.0}
        vq = VectorQuantizerEMA(k, d, commitment_cost=0.25, decay=0.99, epsilon=1e-5, seed=seed, **kwargs)

        def forward(x):
            quantized = vq(x, training=True)
            return quantized, tf.add_n(vq.losses)

    @tf.function
    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            quantized, loss = forward(x)
            objective = tf.reduce_sum(quantized * w) + loss
        return tape.gradient(objective, x)

    return step


# ------------------------------------------------------------------------------------------------ step time
def time_steps(ks, n, d, repeats, warmup):
    """Median step seconds `{k: {impl: s}}`, implementations alternated within one process."""
    import numpy as np

    x, w = _make_inputs(n, d)
    results = {}
    for k in ks:
        steps = {impl: make_step(impl, k, d) for impl in IMPLEMENTATIONS}
        for impl, step in steps.items():
            for _ in range(warmup):
                np.asarray(step(x, w))
        times = {impl: [] for impl in IMPLEMENTATIONS}
        for r in range(repeats):
            order = IMPLEMENTATIONS[r % 3 :] + IMPLEMENTATIONS[: r % 3]
            for impl in order:
                start = time.perf_counter()
                np.asarray(steps[impl](x, w))
                times[impl].append(time.perf_counter() - start)
        results[k] = {impl: statistics.median(t) for impl, t in times.items()}
        print(
            f"K={k:6d} step time (median of {repeats}): "
            + ", ".join(f"{impl} {s * 1e3:8.1f} ms" for impl, s in results[k].items()),
            flush=True,
        )
    return results


def profile_ours(ks, n, d, repeats):
    """Median seconds of the sub-parts of our step (dead_code_threshold=0), to say where the time goes."""
    import numpy as np
    import tensorflow as tf

    from vqkeras.layers import VectorQuantizerEMA

    x, w = _make_inputs(n, d)
    results = {}
    for k in ks:
        vq = VectorQuantizerEMA(k, d, dead_code_threshold=0.0)
        vq.build(x.shape)
        codebook = vq.embeddings

        @tf.function
        def matmul_only(x):
            # The distance matmul alone, whole matrix at once (no argmin, no chunking).
            return tf.reduce_sum(tf.matmul(x, codebook, transpose_b=True))

        @tf.function
        def nearest(x):
            return vq._nearest(x)

        @tf.function
        def nearest_one_piece(x):
            return vq._nearest_chunk(vq._augment(x, 1.0), vq._scoring_codebook(codebook))

        idx = nearest(x)

        @tf.function
        def update(x, idx):
            counts = tf.math.unsorted_segment_sum(tf.ones_like(idx, "float32"), idx, k)
            vq._update_codebook(x, idx, counts)
            return counts

        full = make_step("ours", k, d)
        parts = {
            "full step": lambda: full(x, w),
            "distance matmul only": lambda: matmul_only(x),
            "nearest (library: chunks of max_distance_elements // K rows)": lambda: nearest(x),
            "nearest (one piece)": lambda: nearest_one_piece(x),
            "EMA update (segment sums)": lambda: update(x, idx),
        }
        for fn in parts.values():
            np.asarray(fn())
        times = {name: [] for name in parts}
        for _ in range(repeats):
            for name, fn in parts.items():
                start = time.perf_counter()
                np.asarray(fn())
                times[name].append(time.perf_counter() - start)
        results[k] = {name: statistics.median(t) for name, t in times.items()}
        print(f"K={k:6d} profile of ours: " + ", ".join(f"{p} {s * 1e3:.1f} ms" for p, s in results[k].items()))
    return results


# ---------------------------------------------------------------------------------------------- peak memory
def memory_child(impl, k, n, d, steps):
    """Runs in a subprocess: prints JSON with the peak RSS increase (MiB) of `steps` training steps."""
    import numpy as np
    import tensorflow as tf  # noqa: F401

    if impl == "sonnet":
        import sonnet  # noqa: F401
    else:
        import vqkeras.layers  # noqa: F401

    x, w = _make_inputs(n, d)
    step = make_step(impl, k, d)
    # Drop the import-time high-water mark, so the baseline is the RSS at this point.
    reset_peak_rss()
    baseline = max_rss_mib()
    for _ in range(steps):
        np.asarray(step(x, w))
    print(json.dumps({"impl": impl, "k": k, "baseline_mib": baseline, "peak_mib": max_rss_mib()}))


def measure_memory(ks, n, d, steps):
    """Peak RSS increase `{k: {impl: MiB}}`, one subprocess per configuration."""
    results = {}
    for k in ks:
        results[k] = {}
        for impl in IMPLEMENTATIONS:
            cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", impl, str(k), "-n", str(n), "-d", str(d)]
            cmd += ["--memory-steps", str(steps)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(f"memory subprocess {impl} K={k} failed:\n{proc.stderr[-3000:]}")
            record = json.loads(proc.stdout.strip().splitlines()[-1])
            results[k][impl] = record["peak_mib"] - record["baseline_mib"]
        print(
            f"K={k:6d} peak RSS increase: " + ", ".join(f"{i} {m:8.1f} MiB" for i, m in results[k].items()),
            flush=True,
        )
    return results


# ------------------------------------------------------------------------------------------------- report
def machine_line():
    import keras
    import tensorflow as tf

    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU, shared with other jobs; Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, dm-sonnet 2.0.2"
    )


def table(ks, times, memory):
    lines = [
        "| K | Sonnet step (ms) | ours step (ms) | ours / Sonnet | ours+restarts step (ms) | ours+restarts / Sonnet "
        "| Sonnet peak (MiB) | ours peak (MiB) | ours / Sonnet | ours+restarts peak (MiB) | ours+restarts / Sonnet |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in ks:
        t, m = times[k], memory[k]
        lines.append(
            f"| {k} | {t['sonnet'] * 1e3:.1f} | {t['ours'] * 1e3:.1f} | **{t['ours'] / t['sonnet']:.2f}×** "
            f"| {t['ours+restarts'] * 1e3:.1f} | {t['ours+restarts'] / t['sonnet']:.2f}× "
            f"| {m['sonnet']:.0f} | {m['ours']:.0f} | **{m['ours'] / m['sonnet']:.3f}×** "
            f"| {m['ours+restarts']:.0f} | {m['ours+restarts'] / m['sonnet']:.3f}× |"
        )
    return "\n".join(lines)




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=16384, help="number of input vectors N (default 16384)")
    parser.add_argument("-d", type=int, default=64, help="vector size D (default 64)")
    parser.add_argument("--ks", type=int, nargs="+", default=[512, 4096, 16384], help="codebook sizes K")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per implementation (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after tracing")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps run in each memory subprocess")
    parser.add_argument("--no-profile", action="store_true", help="skip the timing of our step's sub-parts")
    parser.add_argument(
        "--quick", action="store_true", help="fast smoke run: N=4096, K in {512, 4096}, 3 repeats, no docs written"
    )
    parser.add_argument(
        "--output", default=None, help="Markdown file to update (default docs/benchmarks.md; none with --quick)"
    )
    parser.add_argument("--memory-child", nargs=2, metavar=("IMPL", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        impl, k = args.memory_child
        memory_child(impl, int(k), args.n, args.d, args.memory_steps)
        return
    if args.quick:
        args.n, args.ks, args.repeats, args.warmup, args.memory_steps = 4096, [512, 4096], 3, 1, 2
    output = args.output or (None if args.quick else os.path.join("docs", "benchmarks.md"))
    command = "python benchmarks/quantizer.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()

    print(f"N={args.n}, D={args.d}, K in {args.ks}", flush=True)
    memory = measure_memory(args.ks, args.n, args.d, args.memory_steps)
    times = time_steps(args.ks, args.n, args.d, args.repeats, args.warmup)
    profile = None if args.no_profile else profile_ours(args.ks, args.n, args.d, args.repeats)

    result_table = table(args.ks, times, memory)
    print()
    print(result_table)
    k_small, k_large = min(args.ks), max(args.ks)
    verdicts = [
        (f"step time at K={k_small} ≤ 0.8× Sonnet", times[k_small]["ours"] / times[k_small]["sonnet"], 0.8),
        (f"step time at K={k_large} ≤ 0.5× Sonnet", times[k_large]["ours"] / times[k_large]["sonnet"], 0.5),
        (f"peak memory at K={k_large} ≤ 0.3× Sonnet", memory[k_large]["ours"] / memory[k_large]["sonnet"], 0.3),
    ]
    verdict_lines = [f"- {name}: {value:.2f}× → {'met' if value <= bound else 'missed'}" for name, value, bound in verdicts]
    print("\n".join(verdict_lines))
    if not output:
        return

    profile_lines = []
    if profile:
        profile_lines = [
            "",
            f"Where our step's time goes (`dead_code_threshold=0`, median of {args.repeats}, same run; each part is a "
            "separate `tf.function`, so the parts need not add up exactly on a noisy machine):",
            "",
            "| K | " + " | ".join(profile[k_small]) + " |",
            "|---:|" + "---:|" * len(profile[k_small]),
        ]
        for k in args.ks:
            profile_lines.append(f"| {k} | " + " | ".join(f"{s * 1e3:.1f} ms" for s in profile[k].values()) + " |")
    section = "\n".join(
        [
            SECTION,
            "",
            f"Command: `{command}` (from the repository root, with `pip install -e .[bench]`).",
            "",
            f"Date: {datetime.date.today().isoformat()}. Machine: {machine_line()}.",
            "",
            f"N = {args.n} vectors of D = {args.d}, float32. One step = a `tf.function` running the layer in training "
            "mode under a `GradientTape`, gradient of `sum(output · w) + layer loss` w.r.t. the input (`w` fixed "
            "random), EMA codebook update included. `ours` is `VectorQuantizerEMA(dead_code_threshold=0)` (Sonnet has "
            "no restarts: the headline comparison); `ours+restarts` keeps the default `dead_code_threshold=0.1`. "
            "Both use commitment 0.25, decay 0.99, ε = 1e-5.",
            "",
            f"- Step time: median of {args.repeats} timed steps after tracing and {args.warmup} untimed steps, the three "
            "implementations alternated (rotating order) in one process.",
            f"- Peak memory: one subprocess per (implementation, K); the peak RSS (`VmHWM`) after "
            f"{args.memory_steps} steps (tracing included) minus the baseline taken after imports, input creation and layer "
            "construction (the high-water mark is reset there by writing `5` to `/proc/self/clear_refs`, so the "
            "baseline is the RSS at that point).",
            "",
            result_table,
            "",
            "Targets (issue 2):",
            "",
            *verdict_lines,
            *profile_lines,
            "",
        ]
    )
    section += "\n" + NOTE + "\n"
    write_section(output, section, SECTION)
    print(f"\nWrote {output}")


if __name__ == "__main__":
    main()
