"""Where a training step's time goes, op by op, from the TF profiler (issue 7).

Usage (from the repository root):

    python benchmarks/op_profile.py --model shuffle --top 15
    python benchmarks/op_profile.py --model transformer

Traces `--steps` calls of `train_step` (one `tf.function`, after 5 warm-up calls) with `tf.profiler` and reads the
trace back with TensorFlow's own converter (the "framework_op_stats" tool): self time per op type, and the ops with
the most self time, per step. The models are the quality benchmark's: a vqkeras preset of `quality.OURS_PRESETS`
(`--model patch`, `shuffle`, ...) or `keras` (the keras.io example architecture) on a batch of 64 random 28×28
images; `transformer` or `pixelcnn` (its priors) on a batch of 128 random 7×7 grids of K = 64 codes. Self times are
summed over the CPU's threads, so they add up to more than the wall-clock step; "IDLE" is the threads' waiting.
"""

import argparse
import collections
import glob
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script modules)
import step_profile  # noqa: E402

PRIORS = {  # each takes the transformer's MLP activation
    "transformer": lambda mlp_activation: quality.transformer_prior(mlp_activation=mlp_activation),
    "pixelcnn": lambda mlp_activation: quality.pixelcnn_prior(),
}


def build(name, mlp_activation):
    if name in PRIORS:
        return PRIORS[name](mlp_activation)
    return quality.KerasIOVQVAE(num_embeddings=64) if name == "keras" else quality.ours(64, quality.OURS_PRESETS[name])


def op_stats(model, batch, steps, logdir):
    """Rows of the profiler's framework op stats for `steps` training steps (self times in µs, summed)."""
    tf = quality.tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    step = step_profile.warm_step(model, batch)
    tf.profiler.experimental.start(logdir)
    for _ in range(steps):
        step(batch)
    tf.profiler.experimental.stop()
    paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
    data, ok = plugin.xspace_to_tools_data(paths[-1:], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"the profiler's converter failed on {paths[-1:]}")
    table = json.loads(data)
    table = table[0] if isinstance(table, list) else table
    columns = [column["id"] for column in table["cols"]]
    return [dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]])) for row in table["rows"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shuffle",
                        choices=sorted([*quality.OURS_PRESETS, "keras", *PRIORS]))
    parser.add_argument("--mlp-activation", default="gelu", help="the transformer prior's MLP activation")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--top", type=int, default=15, help="how many single ops to list")
    args = parser.parse_args()
    model, batch = step_profile.prepare(build(args.model, args.mlp_activation))
    with tempfile.TemporaryDirectory() as logdir:
        rows = op_stats(model, batch, args.steps, logdir)
    per_step = lambda micros: micros / args.steps / 1000  # noqa: E731  (µs in total → ms per step)
    total = sum(row["total_self_time"] for row in rows)
    by_type = collections.Counter()
    for row in rows:
        by_type[row["type"]] += row["total_self_time"]
    print(f"{args.model}: {per_step(total):.1f} ms of self time per step, summed over threads\n")
    print("| Op type | ms per step | Share |\n|---|---:|---:|")
    for kind, micros in by_type.most_common(12):
        print(f"| {kind} | {per_step(micros):.1f} | {100 * micros / total:.1f}% |")
    print("\n| Op | Type | ms per step |\n|---|---|---:|")
    for row in sorted(rows, key=lambda row: -row["total_self_time"])[:args.top]:
        print(f"| `{row['operation']}` | {row['type']} | {per_step(row['total_self_time']):.2f} |")


if __name__ == "__main__":
    main()
