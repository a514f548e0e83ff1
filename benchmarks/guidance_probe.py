"""Guided sampling of our transformer prior by an early snapshot of itself (autoguidance), on a saved tokenizer.

Usage (from the repository root), after `quality.py --save-dir D` or `gan_probe.py --save-gan
D/vqkeras_k64_gan_generation.keras`:

    python benchmarks/guidance_probe.py --save-dir runs/P --minutes 10 --snapshots 0.1,0.25,0.5 \
        --scales 0,0.5,1,2 --out benchmarks/guidance_probe_P.json

Trains one `quality.transformer_prior()` for `--minutes` on the tokenizer's 60,000 training grids (`quality.fit_prior`,
annealed as in `quality.py`), keeping `prior.snapshot()` copies at the `--snapshots` fractions of the budget. Then, for
every snapshot, guidance scale `w` and top-k setting, samples `--samples` images with
`prior.sample(guide=snapshot, guidance_scale=w)` and reports their FID (EfficientNet-Lite0) against 10,000 training
images (the selection FID, which chooses) and against the 10,000 test images. `w = 0` is the unguided prior.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)
from prior_fid_probe import TOKENIZER_FILES  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save-dir", required=True, help="holds vqkeras_k64_gan_generation.keras")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget of the prior")
    parser.add_argument("--snapshots", type=quality.floats, default=[0.1, 0.25, 0.5],
                        help="fractions of the budget at which guides are copied, comma-separated")
    parser.add_argument("--scales", type=quality.floats, default=[0.0, 0.5, 1.0, 2.0], help="guidance scales w")
    parser.add_argument("--top-k", default="0,32", help="top-k settings, comma-separated (0: off)")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON results")
    args = parser.parse_args()
    path = os.path.join(args.save_dir, TOKENIZER_FILES["ours"])
    if not os.path.isfile(path):
        parser.error(f"--save-dir {args.save_dir!r} lacks {path}")
    if any(not 0 < f < 1 for f in args.snapshots) or any(w < 0 for w in args.scales):
        parser.error(f"--snapshots must be in (0, 1) and --scales ≥ 0. Received: {args.snapshots}, {args.scales}")
    quality.check_data()
    quality.keras.utils.set_random_seed(args.seed)
    train_x, test_x = quality.fashion_images("train"), quality.fashion_images("test")
    tokenizer = quality.load_saved(path)
    train_tokens, test_tokens = quality.encode_all(tokenizer, train_x), quality.encode_all(tokenizer, test_x)
    extractor = quality.EfficientNetLite0Features(image_size=128)
    test_stats = quality.statistics(test_x, extractor)
    selection_stats = quality.statistics(train_x[-quality.SELECTION_IMAGES:], extractor)

    prior = quality.transformer_prior()
    info = quality.fit_prior(prior, train_tokens, args.minutes, anneal=quality.DEFAULT_ANNEAL,
                             snapshots=args.snapshots)
    guides = info.pop("guides")
    result = {"args": vars(args), "prior": {**info, "test_loss": float(
        prior.evaluate(test_tokens, batch_size=500, verbose=0, return_dict=True)["loss"])}}
    for fraction, guide in guides.items():
        guide.compile()
        loss = guide.evaluate(test_tokens, batch_size=500, verbose=0, return_dict=True)["loss"]
        result["prior"][f"guide_{fraction:g}_test_loss"] = float(loss)
    print(json.dumps(result["prior"], default=float), flush=True)

    top_ks = [int(k) or None for k in args.top_k.split(",")]
    grid = [dict(top_k=k) for k in top_ks] + quality.guided_grid(guides, [w for w in args.scales if w > 0], top_ks)
    result["rows"] = quality.sampling_sweep(tokenizer, prior, args.samples, args.seed, grid, extractor, test_stats,
                                            selection_stats, guides=guides)
    best = min(result["rows"], key=lambda row: row["selection_fid"])
    result["best"] = best
    print(f"\nchosen on training images: {best['settings']}, test FID {best['fid']:.1f}")
    print("\n| Guide (fraction of budget) | w | top-k | Selection FID | Test FID |\n|---|---:|---:|---:|---:|")
    for row in result["rows"]:
        s = row["settings"]
        print(f"| {s.get('guide', '—')} | {s.get('guidance_scale', 0):g} | {s.get('top_k') or '—'} | "
              f"{row['selection_fid']:.1f} | {row['fid']:.1f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=float)


if __name__ == "__main__":
    main()
