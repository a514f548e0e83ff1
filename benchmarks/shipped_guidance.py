"""Guided sampling for a trained generator, with a guide trained after the fact (`ImageGenerator.fit_guide`).

Usage (from the repository root):

    python benchmarks/shipped_guidance.py --model saved_models/fashion_vqvae.keras --data fashion_mnist \
        --steps 110,220 --scales 0.25,0.5,1 --out benchmarks/shipped_guidance_fashion.json \
        --save /tmp/fashion_guided.keras

For each `--steps` value, trains a fresh guide (the prior's class and config, new weights) on the generator's own
training images (the split and preprocessing of `DATA[--data]`, as the shipped model was trained), then samples
`--samples` images unguided and at each guidance scale `w`. Each setting is scored against two image sets the
models never trained on: a selection set, which chooses the setting, and a test set, which reports it:
- `fashion_mnist`: FID (EfficientNet-Lite0) against training images 50,000–59,999 (selection; the shipped model
  saw the first 12,000) and the 10,000 test images;
- `fashion_mnist_50k`: the same for a generator whose prior trained on the first 50,000 training images;
- `fashion_mnist_28`: the same at 28×28 with all 60,000 training images, for `quality.py --save-dir` models
  (`--model <dir>/vqkeras_k64_gan_generation.keras --prior <dir>/transformer.keras --lr 2e-3`): the selection set
  is then inside the prior's training set, as in `quality.py`;
- `orl_faces`: KID (EfficientNet-Lite0) against the 40 held-out photos, which both select and report (the faces
  set has nothing else unseen; read its figures as a check that guidance does no harm, not as a measurement).

With `--own-guide`, the generator's own guide (from `train-prior --guide-at-step` or `guide_fraction`) is scored
at each scale too, before any guide trained here (`--steps ""` trains none).

With `--save`, writes the generator with the chosen guide (if a guided setting was chosen) as `.keras`
(`to_inference()`), and prints the chosen `w` for `vqkeras generate --guidance-scale`.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import quality  # noqa: E402  (sibling script module)
import vqkeras  # noqa: E402
from vqkeras.metrics import EfficientNetLite0Features  # noqa: E402
from vqkeras.metrics import compute_features  # noqa: E402
from vqkeras.metrics import feature_statistics  # noqa: E402
from vqkeras.metrics import frechet_distance  # noqa: E402
from vqkeras.metrics import kernel_inception_distance  # noqa: E402

DATA = {
    "fashion_mnist": dict(size=32, batch_size=64, train="train[:12000]", augment=False, selection="train[50000:]",
                          test="test", metric="fid"),
    # The same for a generator whose prior trained on the first 50,000 training images (`vqkeras train-prior
    # --split "train[:50000]"`): the selection set stays unseen.
    "fashion_mnist_50k": dict(source="fashion_mnist", size=32, batch_size=64, train="train[:50000]", augment=False,
                              selection="train[50000:]", test="test", metric="fid"),
    # quality.py's Fashion-MNIST at 28×28 (all 60,000 training images), for its saved models (`--prior`).
    "fashion_mnist_28": dict(source="fashion_mnist", size=28, batch_size=64, train="train", augment=False,
                             selection="train[50000:]", test="test", metric="fid"),
    "orl_faces": dict(size=64, batch_size=16, train="train[:90%]", augment=True, selection="train[90%:]",
                      test="train[90%:]", metric="kid"),
}


def images(source, split, size):
    data = vqkeras.data.load_images(source, size, channels=1, batch_size=500, split=split, shuffle=False)
    return np.concatenate([np.asarray(batch) for batch in data])


def distance(metric, features, reference):
    if metric == "fid":
        return frechet_distance(*feature_statistics(features), *reference)
    return kernel_inception_distance(features, reference, subset_size=min(len(features), len(reference)))["kid"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an ImageGenerator .keras file whose prior is trained (or, "
                                                        "with --prior, a tokenizer)")
    parser.add_argument("--prior", default=None, help="a trained prior .keras file for the --model tokenizer")
    parser.add_argument("--data", required=True, choices=sorted(DATA))
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate of the guide")
    parser.add_argument("--steps", default="110,220", help="guide training steps to try, comma-separated")
    parser.add_argument("--own-guide", action="store_true",
                        help="also score the generator's own guide at each scale (settings guide_steps: 'own')")
    parser.add_argument("--scales", default="0.25,0.5,1", help="guidance scales w, comma-separated")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON results")
    parser.add_argument("--save", default=None, help="write the generator with the chosen guide here (.keras)")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s]
    scales = quality.floats(args.scales)
    if (not steps and not args.own_guide) or min(steps, default=1) < 1 or not scales or min(scales) <= 0:
        parser.error(f"--steps must be integers ≥ 1 (or '' with --own-guide) and --scales > 0. Received: "
                     f"{args.steps!r}, {args.scales!r}")
    spec = DATA[args.data]
    source = spec.get("source", args.data)
    generator = keras.models.load_model(args.model, safe_mode=True)
    if args.prior:
        generator = vqkeras.models.ImageGenerator(generator, keras.models.load_model(args.prior, safe_mode=True),
                                                  prior_trained=True)
    guides = {}  # guide steps (or "own") -> guide
    if args.own_guide:
        if generator.guide is None:
            parser.error(f"--own-guide: {args.model} has no guide (train-prior --guide-at-step adds one)")
        guides["own"] = generator.guide
    extractor = EfficientNetLite0Features(image_size=128)

    def features(x):
        return compute_features(x, extractor, verbose=0)

    def reference(x):
        f = features(x)
        return feature_statistics(f) if spec["metric"] == "fid" else f

    test_images = images(source, spec["test"], spec["size"])
    selection, test = reference(images(source, spec["selection"], spec["size"])), reference(test_images)
    # The tokenizer's floor: its reconstructions of `--samples` test images, against the test set.
    originals = test_images[: args.samples]
    floor = distance(spec["metric"], features(quality.reconstruct(generator.tokenizer, originals)), test)
    print(f"  reconstructions of {len(originals)} test images: test {spec['metric']} {floor:.4g}", flush=True)
    train = vqkeras.data.load_images(source, spec["size"], channels=1, batch_size=spec["batch_size"],
                                     split=spec["train"], augment=spec["augment"], seed=args.seed)

    def score(guide_steps=None, w=None):
        settings = {} if w is None else dict(guide_steps=guide_steps, guidance_scale=w)
        generator.set_guide(guides.get(guide_steps))
        t0 = time.perf_counter()
        out = [np.asarray(generator.generate(min(250, args.samples - i), seed=args.seed + i, guidance_scale=w))
               for i in range(0, args.samples, 250)]
        f = features(np.concatenate(out))
        row = dict(settings=settings, sample_seconds=time.perf_counter() - t0,
                   selection=distance(spec["metric"], f, selection), test=distance(spec["metric"], f, test))
        print(f"  {settings}: selection {spec['metric']} {row['selection']:.4g}, test {row['test']:.4g}", flush=True)
        return row

    rows = [score()] + [score("own", w) for w in scales if args.own_guide]
    for n in steps:
        keras.utils.set_random_seed(args.seed)
        t0 = time.perf_counter()
        optimizer = keras.optimizers.AdamW(args.lr, weight_decay=0.01)
        generator.fit_guide(train, steps=n, batch_size=spec["batch_size"], optimizer=optimizer, seed=args.seed,
                            verbose=0)
        guides[n] = generator.guide
        print(f"guide: {n} steps in {time.perf_counter() - t0:.0f} s", flush=True)
        rows += [score(n, w) for w in scales]
    best = min(rows, key=lambda row: row["selection"])
    print(f"chosen on the selection set: {best['settings']}, test {spec['metric']} {best['test']:.4g} "
          f"(unguided {rows[0]['test']:.4g})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(args=vars(args), metric=spec["metric"], reconstruction=floor, rows=rows, best=best), f,
                      indent=1, default=float)
    if args.save:
        generator.set_guide(guides.get(best["settings"].get("guide_steps")))
        generator.to_inference().save(args.save)
        print(f"saved {args.save}; sample with --guidance-scale {best['settings'].get('guidance_scale', 0):g}")


if __name__ == "__main__":
    main()
