"""Discriminator rejection of prior samples, on a saved VQGAN tokenizer and prior (issue 7).

Usage (from the repository root), after `python benchmarks/prior_fid_probe.py --save-dir runs/N ... --save-priors`:

    python benchmarks/rejection_probe.py --save-dir runs/N --prior probe_prior_0.keras --oversample 1,1.5,2,4

Loads `vqkeras_k64_gan_generation.keras` (a `VQGAN`, with its PatchGAN discriminator) and the prior with
`safe_mode`. For each oversampling factor `m`, draws `m·n` samples (`--sampling` settings) and keeps the `n` whose
mean discriminator logit is highest (a hard version of discriminator rejection sampling, Azadi et al. 2019; `m = 1`
keeps them all). As in `quality.py`, the factor would be chosen by the FID (EfficientNet-Lite0) against 10,000
training images; the test-set FID is reported beside it. The baseline has no discriminator, so this is a vqkeras-only
figure, never the side-by-side one.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import quality  # noqa: E402  (sibling script modules)
from prior_fid_probe import TOKENIZER_FILES  # noqa: E402


def discriminator_scores(gan, images, chunk=500):
    """Mean patch logit of `gan.discriminator` for each image (higher: judged more real)."""
    return quality.in_chunks(lambda x: np.mean(gan.discriminator(x, training=False), axis=(1, 2, 3)), images, chunk)


def keep_most_real(candidates, scores, n):
    """The `n` of `candidates` with the highest `scores`, in their original order."""
    return candidates[np.sort(np.argsort(-scores, kind="stable")[:n])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save-dir", required=True)
    parser.add_argument("--prior", default="transformer.keras", help="the prior's file in --save-dir")
    parser.add_argument("--oversample", default="1,1.5,2,4", help="comma-separated factors m >= 1")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--sampling", default='{"top_k": 32}', help="JSON object of prior.sample arguments")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON results")
    args = parser.parse_args()
    factors = [float(f) for f in args.oversample.split(",")]
    if any(f < 1 for f in factors):
        parser.error(f"--oversample factors must be >= 1. Received: {args.oversample}")
    paths = [os.path.join(args.save_dir, name) for name in (TOKENIZER_FILES["ours"], args.prior)]
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        parser.error(f"--save-dir {args.save_dir!r} lacks {', '.join(missing)}")
    quality.check_data()
    gan, prior = (quality.load_saved(path) for path in paths)
    train_x, test_x = quality.fashion_images("train"), quality.fashion_images("test")
    extractor = quality.EfficientNetLite0Features(image_size=128)
    test_stats = quality.statistics(test_x, extractor)
    selection_stats = quality.statistics(train_x[-quality.SELECTION_IMAGES:], extractor)
    sampling = json.loads(args.sampling)
    pool = quality.sample_images(gan, prior, int(np.ceil(max(factors) * args.samples)), seed=args.seed, **sampling)
    scores = discriminator_scores(gan, pool)  # once: each factor's candidates are a prefix of the pool
    rows = []
    for factor in factors:
        size = int(np.ceil(factor * args.samples))
        kept = keep_most_real(pool[:size], scores[:size], args.samples)
        stats = quality.statistics(kept, extractor)
        rows.append(dict(oversample=factor, selection_fid=quality.frechet_distance(*stats, *selection_stats),
                         fid=quality.frechet_distance(*stats, *test_stats)))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.samples} samples kept, sampling {sampling}:\n\n| Oversampling | Selection FID | Test FID |\n"
          "|---:|---:|---:|")
    for row in rows:
        print(f"| {row['oversample']:g}× | {row['selection_fid']:.1f} | {row['fid']:.1f} |")
    if args.out:
        quality.save({"args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
