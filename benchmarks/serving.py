"""Serving speed: the exported SavedModel's signatures vs calling the Keras model, for encode, decode and generate.

Run from the repository root:

    python benchmarks/serving.py

Small randomly initialised models (speed does not depend on training): a VQ-VAE on 32×32 RGB images (f = 4, an 8×8
token grid, K = 512) and a transformer prior over its grid, joined in an `ImageGenerator` and exported with
`vqkeras.export.export_saved_model`. The SavedModel is loaded in this process with `tf.saved_model.load` and called
through its signatures (what TF Serving runs, minus the RPC); the Keras side calls `tokenizer.encode`,
`generator.decode` and `generator.generate` as a user would (argument checks, then compiled graphs:
`vqkeras.utils.compiled_calls`). Every case is warmed up (traced) first, then timed
`--repeats` times with the two sides alternated; the figure is the median. Prints a Markdown section.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vqkeras.export import export_saved_model  # noqa: E402
from vqkeras.models import VQVAE  # noqa: E402
from vqkeras.models import ImageGenerator  # noqa: E402
from vqkeras.priors import TransformerPrior  # noqa: E402
from common import DOCS_PATH  # noqa: E402  (sibling script module)
from common import write_section  # noqa: E402

TOKENIZER = dict(
    image_channels=3,
    num_embeddings=512,
    latent_dim=64,
    base_channels=32,
    channel_multipliers=(1, 2, 2),
    num_res_blocks=1,
    use_attention=False,
)
PRIOR = dict(embed_dim=128, num_layers=2, num_heads=4, dropout=0.0)
IMAGE_SIZE = 32
TOP_K = 100


def _cases(generator, signatures, batch, rng):
    """`{task: (keras_fn, saved_model_fn)}`; each fn takes a call index (the generate seed)."""
    images = tf.constant(rng.uniform(-1, 1, (batch, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"))
    indices = generator.tokenizer.encode(images)
    return {
        "encode": (
            lambda i: generator.tokenizer.encode(images),
            lambda i: signatures["encode"](images=images)["indices"],
        ),
        "decode": (
            lambda i: generator.decode(indices),
            lambda i: signatures["decode"](indices=indices)["images"],
        ),
        "generate": (
            lambda i: generator.generate(batch, seed=i, top_k=TOP_K),
            lambda i: signatures["generate"](
                num_images=tf.constant(batch), seed=tf.constant(i, tf.int64), temperature=tf.constant(1.0),
                top_k=tf.constant(TOP_K),
            )["images"],
        ),
    }


def _time_pair(keras_fn, saved_fn, repeats):
    keras_fn(0), saved_fn(0)  # trace + warm-up
    times = {"keras": [], "saved": []}
    for r in range(repeats):
        order = [("keras", keras_fn), ("saved", saved_fn)]
        if r % 2:
            order.reverse()
        for name, fn in order:
            start = time.perf_counter()
            np.asarray(fn(r + 1))
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["keras"]), statistics.median(times["saved"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=DOCS_PATH, help="Markdown file whose section is rewritten")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    tokenizer = VQVAE(**TOKENIZER)
    f = 2 ** (len(TOKENIZER["channel_multipliers"]) - 1)
    grid = (IMAGE_SIZE // f, IMAGE_SIZE // f)
    generator = ImageGenerator(tokenizer, TransformerPrior(TOKENIZER["num_embeddings"], grid, **PRIOR),
                               prior_trained=True)
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        path = export_saved_model(generator, root)
        export_seconds = time.perf_counter() - start
        loaded = tf.saved_model.load(path)
        signatures = loaded.signatures
        same = np.array_equal(
            signatures["generate"](num_images=tf.constant(2), seed=tf.constant(9, tf.int64),
                                   temperature=tf.constant(1.0), top_k=tf.constant(TOP_K))["tokens"].numpy(),
            generator.generate_tokens(2, seed=9, top_k=TOP_K).numpy(),
        )
        rows = []
        rng = np.random.default_rng(0)
        for batch in args.batches:
            for task, (keras_fn, saved_fn) in _cases(generator, signatures, batch, rng).items():
                keras_s, saved_s = _time_pair(keras_fn, saved_fn, args.repeats)
                rows.append((task, batch, keras_s, saved_s))
                print(f"{task:9s} batch {batch:3d}: Keras {1000 * keras_s / batch:9.2f} ms/image, "
                      f"SavedModel {1000 * saved_s / batch:9.2f} ms/image ({keras_s / saved_s:.2f}×)", flush=True)

    lines = [
        "## Serving",
        "",
        "Command: `python benchmarks/serving.py` (from the repository root).",
        "",
        f"Date: {time.strftime('%Y-%m-%d')}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU, "
        f"shared with other jobs; TensorFlow {tf.__version__}, Keras {keras.__version__}, Python "
        f"{sys.version.split()[0]}.",
        "",
        "Models (small, random init; speed does not depend on training): "
        f"VQVAE({', '.join(f'{k}={v}' for k, v in TOKENIZER.items())}) "
        f"on {IMAGE_SIZE}×{IMAGE_SIZE} RGB images ({tokenizer.count_params():,} parameters, "
        f"{grid[0]}×{grid[1]} token grid); TransformerPrior(K={TOKENIZER['num_embeddings']}, grid={grid}, "
        f"{', '.join(f'{k}={v}' for k, v in PRIOR.items())}) ({generator.prior.count_params():,} parameters), "
        f"sampled with the KV cache, temperature 1, top_k={TOP_K}.",
        "",
        "Keras: `tokenizer.encode(x)`, `generator.decode(indices)`, `generator.generate(n, seed=s, top_k=100)` "
        "(called eagerly: they check their arguments, then run the model through `tf.function`s made once per model, "
        "and the sampling loop is one). SavedModel: `export_saved_model(generator, ...)`, "
        "loaded in the same process with `tf.saved_model.load` and called through `signatures[...]`: TF Serving's "
        "graph, without the RPC. Median of "
        f"{args.repeats} calls after a warm-up, the two sides alternated. Export took {export_seconds:.1f} s. "
        f"Same seed ⇒ same tokens (SavedModel `generate` vs `generate_tokens`): {same}.",
        "",
        "| Task | Batch | Keras ms/image | SavedModel ms/image | Keras images/s | SavedModel images/s | Speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for task, batch, keras_s, saved_s in rows:
        lines.append(
            f"| {task} | {batch} | {1000 * keras_s / batch:.2f} | {1000 * saved_s / batch:.2f} | "
            f"{batch / keras_s:.1f} | {batch / saved_s:.1f} | {keras_s / saved_s:.2f}× |"
        )
    print("\n" + "\n".join(lines))
    write_section(args.output, "\n".join(lines), lines[0])


if __name__ == "__main__":
    main()
