"""The quantizer family side by side on Fashion-MNIST: the same tokenizer architecture and the same CPU time.

Usage (from a frozen copy of the repository root):

    python benchmarks/quantizer_quality.py                                  # 10 + 5 CPU minutes per member
    python benchmarks/quantizer_quality.py --minutes 1 --prior-minutes 0.5 --samples 250 --no-docs   # a smoke run

Each member (`MEMBERS`, codebook sizes near 2^10) replaces the quantizer of the `fashion_mnist_28` recipe's
tokenizer (`vqkeras.presets.get_recipe`); everything else is the recipe's reconstruction phase: Adam at its rate,
batch 32, the L2 loss, the learning rate annealed over the last `anneal` of the budget. Every tokenizer trains for
`--minutes` of this process's CPU time (`TrainingBudget(clock="cpu")`: all threads counted, so other jobs on a
shared machine shift it far less than a wall-clock budget), then a `TransformerPrior` of the recipe's size trains on
its tokens of the 60,000 training images for `--prior-minutes` of CPU time. A residual tokenizer's `(h, w, depth)`
indices are the prior's `(h, w·depth)` grid, depth innermost.

Reported per member: test PSNR, codebook usage and perplexity (`evaluate_model` on the 10,000 test images); the
prior's loss on the test images' tokens, in nats per token and in bits per image (comparable across depths and
codebook sizes); and the sample FID (EfficientNet-Lite0 at 128×128) of `--samples` samples (temperature 1, unguided)
against the 10,000 test images. There is no VQ-GAN phase: the comparison is of the quantizers, not of the recipe.
Writes its section of `docs/benchmarks.md` unless `--no-docs`.
"""

import argparse
import datetime
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import DOCS_PATH  # noqa: E402  (sibling script modules)
from common import fashion_images  # noqa: E402
from common import fid_against  # noqa: E402
from common import image_statistics  # noqa: E402
from common import machine_line  # noqa: E402
from common import matmul_gflops  # noqa: E402
from common import write_section  # noqa: E402
from training_budget import TrainingBudget  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vqkeras  # noqa: E402
from vqkeras.metrics import EfficientNetLite0Features  # noqa: E402
from vqkeras.metrics import evaluate_model  # noqa: E402

RECIPE = vqkeras.presets.get_recipe("fashion_mnist_28")
ARCHITECTURE = {key: RECIPE[key] for key in ("latent_dim", "base_channels", "channel_multipliers", "num_res_blocks",
                                             "use_attention", "normalization", "upsample", "reconstruction_loss")}
# Each member: its label and its `make_quantizer` arguments.
MEMBERS = {
    "ema": ("VQ-EMA, K = 1024", dict(name="ema", num_embeddings=1024)),
    "fsq": ("FSQ [8, 5, 5, 5]", dict(name="fsq", levels=(8, 5, 5, 5))),
    "lfq": ("LFQ, 10 bits", dict(name="lfq", num_bits=10)),
    "residual": ("residual VQ-EMA, depth 2, K = 32", dict(name="residual", num_embeddings=32, depth=2)),
}
HEADING = "## Quantizer family: quality at the same CPU time"


def endless(array, batch_size, seed=0):
    data = tf.data.Dataset.from_tensor_slices(array).shuffle(len(array), seed=seed).repeat()
    return data.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def fit_for(model, data, minutes, anneal):
    """Fits `model` on the endless `data` until `minutes` of CPU time; returns the budget (its steps)."""
    budget = TrainingBudget(minutes, anneal=anneal, clock="cpu")
    model.fit(data, epochs=100_000, steps_per_epoch=200, callbacks=[budget], verbose=0, shuffle=False)  # shuffled
    return budget


def measure(label, options, args, train, test, extractor, test_stats):
    keras.utils.set_random_seed(args.seed)
    tokenizer = vqkeras.models.VQVAE(
        image_channels=1, num_embeddings=options.get("num_embeddings", 512),
        quantizer=vqkeras.quantizers.make_quantizer(embedding_dim=ARCHITECTURE["latent_dim"], **options),
        **ARCHITECTURE)
    tokenizer.compile(optimizer=keras.optimizers.get(RECIPE["reconstruction_optimizer"]))
    start = time.process_time()
    tokenizer_budget = fit_for(tokenizer, endless(train, RECIPE["batch_size"], args.seed), args.minutes,
                               RECIPE["anneal"])
    tokenizer_cpu = time.process_time() - start
    reconstruction = evaluate_model(tokenizer, test, batch_size=500, verbose=0)

    depth = int(np.prod(tokenizer.index_shape))
    h, w = (s // tokenizer.downsample_factor for s in train.shape[1:3])
    prior = vqkeras.priors.TransformerPrior(tokenizer.num_embeddings, (h, w * depth), **RECIPE["prior_kwargs"])
    generator = vqkeras.generator.ImageGenerator(tokenizer, prior, prior_trained=True)  # trained below
    train_tokens, test_tokens = generator.encode_dataset(train, 1000), generator.encode_dataset(test, 1000)
    prior.compile(optimizer=keras.optimizers.get(RECIPE["prior_optimizer"]), jit_compile=RECIPE["prior_jit_compile"])
    start = time.process_time()
    prior_budget = fit_for(prior, endless(train_tokens, RECIPE["prior_batch_size"], args.seed), args.prior_minutes,
                           RECIPE["anneal"])
    prior_cpu = time.process_time() - start
    nats = float(prior.evaluate(test_tokens, batch_size=500, verbose=0, return_dict=True)["loss"])

    samples = np.concatenate([np.asarray(generator.generate(min(250, args.samples - i), seed=args.seed + i))
                              for i in range(0, args.samples, 250)])
    fid = fid_against(samples, extractor, test_stats)
    row = dict(label=label, codebook_size=int(tokenizer.num_embeddings), depth=depth,
               tokenizer_steps=tokenizer_budget.steps, tokenizer_cpu=tokenizer_cpu, psnr=reconstruction["psnr"],
               usage=reconstruction["usage"], perplexity=reconstruction["perplexity"],
               prior_steps=prior_budget.steps, prior_cpu=prior_cpu, prior_nats=nats,
               bits_per_image=nats * h * w * depth / math.log(2), fid=fid)
    print(f"{label}: {row}", flush=True)
    return row


def section(rows, args, rate, seconds):
    lines = [
        HEADING, "",
        f"Command: `python benchmarks/quantizer_quality.py --minutes {args.minutes:g} --prior-minutes "
        f"{args.prior_minutes:g} --samples {args.samples}` (from a frozen copy). Date: {datetime.date.today()}. "
        f"Machine: {machine_line()}; 2048² matmul at {rate:.0f} GFLOP/s; run time {seconds / 60:.0f} minutes.", "",
        "The `fashion_mnist_28` recipe's tokenizer architecture and reconstruction phase (no VQ-GAN phase) with each "
        f"quantizer, {args.minutes:g} CPU minutes each; then the recipe's `TransformerPrior` on its tokens for "
        f"{args.prior_minutes:g} CPU minutes. PSNR, usage and perplexity on the 10,000 test images; the prior's loss "
        f"on their tokens; sample FID (EfficientNet-Lite0) of {args.samples} unguided samples at temperature 1 "
        "against the 10,000 test images.", "",
        "| quantizer | codes | tokenizer steps | test PSNR | usage | perplexity | prior steps | prior test loss "
        "(nats/token) | bits/image | sample FID |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        codes = f"{r['depth']} × {r['codebook_size']}" if r["depth"] > 1 else f"{r['codebook_size']}"
        lines.append(f"| {r['label']} | {codes} | {r['tokenizer_steps']:,} | {r['psnr']:.2f} dB | {r['usage']:.1%} "
                     f"| {r['perplexity']:.1f} | {r['prior_steps']:,} | {r['prior_nats']:.3f} "
                     f"| {r['bits_per_image']:.0f} | {r['fid']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU minutes of each tokenizer")
    parser.add_argument("--prior-minutes", type=float, default=5.0, help="CPU minutes of each prior")
    parser.add_argument("--samples", type=int, default=1000, help="samples per member for the FID")
    parser.add_argument("--members", default=",".join(MEMBERS), help=f"comma-separated, of {list(MEMBERS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-docs", action="store_true", help="print the section, do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    chosen = args.members.split(",")
    if set(chosen) - set(MEMBERS) or args.minutes <= 0 or args.prior_minutes <= 0 or args.samples < 2:
        parser.error(f"--members must be some of {list(MEMBERS)}, the budgets must be > 0 and --samples ≥ 2. "
                     f"Received: --members={args.members!r} --minutes={args.minutes} "
                     f"--prior-minutes={args.prior_minutes} --samples={args.samples}")
    start = time.time()
    rate = matmul_gflops()
    train, test = fashion_images("train"), fashion_images("test")
    extractor = EfficientNetLite0Features()
    test_stats = image_statistics(test, extractor)
    rows = [measure(*MEMBERS[key], args, train, test, extractor, test_stats) for key in chosen]
    text = section(rows, args, rate, time.time() - start)
    print(text)
    if not args.no_docs:
        write_section(DOCS_PATH, text, HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
