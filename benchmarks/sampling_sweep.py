"""Sampling settings of the quality benchmark's priors, on the models a run saved (issue 7).

Usage (from the repository root), after `python benchmarks/quality.py ... --save-dir runs/F`:

    python benchmarks/sampling_sweep.py --save-dir runs/F --grid '[{"temperature": 0.7}, {"top_p": 0.9}]'
    python benchmarks/sampling_sweep.py --save-dir runs/F --grid '[{"top_k": 32}]' --more-prior-minutes 10

Loads the generation tokenizers and priors that `quality.py --save-dir` wrote (`keras_io_k64_generation.keras` +
`pixelcnn.keras`, `vqkeras_k64_gan_generation.keras` + `transformer.keras`) with `safe_mode`, and for each setting of
the grid samples `--samples` images with each prior. As in `quality.py`, a setting is chosen by its FID
(EfficientNet-Lite0) against 10,000 training images, and the test-set FID is reported beside it.

The FID of `--samples` test reconstructions is reported for each tokenizer.

A setting may name a guide, `{"guide": 0.05, "guidance_scale": 0.25}`: the prior's copy that `quality.py` saved at
that fraction of its budget (`transformer_at_0p05.keras`, `pixelcnn_at_0p05.keras`). `--setups ours` (or `baseline`)
sweeps one side only.

With `--more-gan-minutes G`, each tokenizer first trains `G` more minutes as `quality.py`'s VQGAN phase trains it
(ours as a VQGAN, the baseline with its own loss; new optimizers, annealed); the priors are not retrained for its
new codes unless `--more-prior-minutes` is given too. With `--more-prior-minutes M`, each prior first trains `M`
more minutes on its tokenizer's 60,000 training grids (`quality.fit_prior`, a new AdamW at the benchmark's rate,
annealed as in `quality.py`), one prior after the other: how much a longer prior budget would change each side's FID.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)

SETUPS = {
    "baseline_k64 + PixelCNNPrior": ("keras_io_k64_generation.keras", "pixelcnn.keras"),
    "vqkeras_k64 + TransformerPrior": ("vqkeras_k64_gan_generation.keras", "transformer.keras"),
}


def continue_tokenizer(key, tokenizer, train_ds, minutes):
    """`minutes` more training of a loaded generation tokenizer as `quality.py`'s VQGAN phase trains it; the steps."""
    if key.startswith("vqkeras"):  # the VQGAN, both players with Adam(β₁ = 0.5)
        lr = quality.GAN_LEARNING_RATE
        optimizers = dict(optimizer=quality.keras.optimizers.Adam(lr, beta_1=0.5),
                          discriminator_optimizer=quality.keras.optimizers.Adam(lr, beta_1=0.5))
    else:
        lr, optimizers = quality.BASELINE_LEARNING_RATE, {}
    return quality.train(tokenizer, train_ds, minutes, lr, anneal=quality.DEFAULT_ANNEAL, **optimizers).steps


def guide_file(prior_file, fraction):
    """The file name `quality.py --save-dir` gives a prior's copy at `fraction` of its budget."""
    stem = prior_file[: -len(".keras")]
    return f"{stem}_at_{fraction:g}".replace(".", "p") + ".keras"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save-dir", required=True, help="the --save-dir of a quality.py run")
    parser.add_argument("--grid", required=True, help="JSON list of sampling settings (prior.sample arguments)")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fid-image-size", type=int, default=128)
    parser.add_argument("--more-gan-minutes", type=float, default=0.0,
                        help="train each tokenizer this many more minutes before sampling")
    parser.add_argument("--more-prior-minutes", type=float, default=0.0,
                        help="train each prior this many more minutes before sampling")
    parser.add_argument("--setups", default="baseline,ours", help="which sides to sweep: baseline, ours or both")
    parser.add_argument("--out", default=None, help="JSON results")
    args = parser.parse_args()
    sides = {"baseline": "baseline_k64 + PixelCNNPrior", "ours": "vqkeras_k64 + TransformerPrior"}
    chosen = set(args.setups.split(","))
    if chosen - set(sides):
        parser.error(f"--setups takes baseline and/or ours. Received: {args.setups!r}")
    setups = {sides[s]: SETUPS[sides[s]] for s in sides if s in chosen}
    try:
        grid = json.loads(args.grid)
    except json.JSONDecodeError as error:
        parser.error(f"--grid must be a JSON list of objects. Received: {args.grid!r} ({error})")
    if not isinstance(grid, list) or not all(isinstance(g, dict) for g in grid):
        parser.error(f"--grid must be a JSON list of objects. Received: {args.grid!r}")
    fractions = sorted({g["guide"] for g in grid if "guide" in g})
    guide_files = {key: {f: guide_file(prior_file, f) for f in fractions} for key, (_, prior_file) in setups.items()}
    needed = [f for pair in setups.values() for f in pair] + [f for d in guide_files.values() for f in d.values()]
    missing = [f for f in needed if not os.path.isfile(os.path.join(args.save_dir, f))]
    if missing:
        parser.error(f"--save-dir {args.save_dir!r} lacks {', '.join(missing)} (written by quality.py --save-dir)")
    quality.check_data()
    load = lambda name: quality.load_saved(os.path.join(args.save_dir, name))  # noqa: E731
    extractor = quality.EfficientNetLite0Features(image_size=args.fid_image_size)
    test_x = quality.fashion_images("test")
    train_x = quality.fashion_images("train")
    test_stats = quality.statistics(test_x, extractor)
    selection_stats = quality.statistics(train_x[-quality.SELECTION_IMAGES:], extractor)
    train_ds = quality.train_images(64)
    results, more, reconstruction_fids = {}, {}, {}
    for key, (tokenizer_file, prior_file) in setups.items():
        tokenizer, prior = load(tokenizer_file), load(prior_file)
        guides = {f: load(name) for f, name in guide_files[key].items()}
        if args.more_gan_minutes > 0:
            more[f"{key}: tokenizer steps"] = continue_tokenizer(key, tokenizer, train_ds, args.more_gan_minutes)
        reconstruction_fids[key] = quality.fid_against(quality.reconstruct(tokenizer, test_x[:args.samples]),
                                                       extractor, test_stats)
        print(f"  {key}: FID of {args.samples} test reconstructions {reconstruction_fids[key]:.2f}", flush=True)
        if args.more_prior_minutes > 0:
            more[f"{key}: prior"] = quality.fit_prior(prior, quality.encode_all(tokenizer, train_x),
                                                      args.more_prior_minutes, anneal=quality.DEFAULT_ANNEAL)
        results[key] = quality.sampling_sweep(tokenizer, prior, args.samples, args.seed, grid, extractor, test_stats,
                                              selection_stats, guides=guides)
    print("| Setup | Settings | Selection FID | Test FID |\n|---|---|---:|---:|")
    for key, rows in results.items():
        for row in rows:
            print(f"| {key} | {row['settings']} | {row['selection_fid']:.2f} | {row['fid']:.2f} |")
    best = {key: min(rows, key=lambda row: row["selection_fid"]) for key, rows in results.items()}
    print("\nChosen by selection FID: " + "; ".join(f"{k}: {v['settings']} → test FID {v['fid']:.2f}"
                                                   for k, v in best.items()))
    if len(best) == 2:
        ratio = best["vqkeras_k64 + TransformerPrior"]["fid"] / best["baseline_k64 + PixelCNNPrior"]["fid"]
        print(f"ratio {ratio:.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results, "more_training": more,
                       "reconstruction_fids": reconstruction_fids}, f, indent=1, default=float)


if __name__ == "__main__":
    main()
