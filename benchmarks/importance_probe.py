"""Importance resampling of prior samples by a classifier of real against sampled token grids (issue 7).

Usage (from the repository root), on the models that `quality.py --save-dir runs/Tfull` wrote:

    python benchmarks/importance_probe.py --save-dir runs/Tfull --tokenizer ours \
        --sampling '{"guide": 0.1, "guidance_scale": 0.5}' --alphas 0,0.5,1 --oversample 3

A classifier `c(x)` learns to tell the training images' token grids (label 1) from `--fake` grids the prior sampled
(label 0), with as many of each in every batch. With balanced classes its logit estimates the log density ratio,
`c(x) ≈ log p_data(x) − log p_model(x)` (likelihood-free importance weighting, Grover et al. 2019). Then
`--oversample`·n fresh candidates are drawn, and n of them kept without replacement with probability proportional
to `exp(α c(x))` (Gumbel top-n: the n largest `α c(x) + g`, `g ~ Gumbel(0, 1)`). `α = 0` keeps a uniform draw of the
candidates; `α = 1` is the density-ratio estimate. Unlike `rejection_probe.py` (the VQGAN's discriminator, on images,
kept the most real-looking: worse FID), the classifier sees the prior's own samples, and the draw stays random.

As in `quality.py`, each α's FID (EfficientNet-Lite0) against the last 10,000 training images would choose; the test
FID is reported beside it. `--tokenizer baseline` does the same for the keras.io example architecture and its
PixelCNN, so both sides can be resampled alike.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import quality  # noqa: E402  (sibling script modules)
from prior_fid_probe import TOKENIZER_FILES  # noqa: E402

PRIOR_FILES = {"ours": "transformer", "baseline": "pixelcnn"}


def token_classifier(num_embeddings, width=64, depth=3):
    """Logit of "a training grid" for an int grid `(h, w)`: embedding, `depth` residual 3×3 convolutions, mean."""
    tokens = keras.Input((None, None), dtype="int32")
    x = keras.layers.Embedding(num_embeddings, width)(tokens)
    for _ in range(depth):
        x = x + keras.layers.Conv2D(width, 3, padding="same", activation="gelu")(keras.layers.LayerNormalization()(x))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.LayerNormalization()(x))
    return keras.Model(tokens, keras.layers.Dense(1)(x), name="token_classifier")


def balanced_stream(real, fake, batch_size, seed):
    """Endless batches of `(grids, labels)`, half real (1) and half fake (0)."""
    def side(grids, label):
        ds = tf.data.Dataset.from_tensor_slices(grids).shuffle(len(grids), seed=seed).repeat()
        return ds.map(lambda g: (g, tf.constant(label, tf.float32)))
    return tf.data.Dataset.sample_from_datasets([side(real, 1.0), side(fake, 0.0)], seed=seed,
                                                rerandomize_each_iteration=True) \
        .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def fit_classifier(real, fake, num_embeddings, steps, batch_size=256, lr=1e-3, seed=0, holdout=0.1):
    """Trains `token_classifier` for `steps` on balanced batches; returns it and its held-out loss and accuracy
    (the last `holdout` of each side is kept out)."""
    n_real, n_fake = (int(len(x) * (1 - holdout)) for x in (real, fake))
    model = token_classifier(num_embeddings)
    model.compile(optimizer=keras.optimizers.AdamW(lr, weight_decay=0.01),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)])
    model.fit(balanced_stream(real[:n_real], fake[:n_fake], batch_size, seed), steps_per_epoch=steps, epochs=1,
              verbose=0)
    held = min(len(real) - n_real, len(fake) - n_fake)
    x = np.concatenate([real[n_real:n_real + held], fake[n_fake:n_fake + held]])
    y = np.concatenate([np.ones(held), np.zeros(held)]).astype("float32")
    loss, accuracy = model.evaluate(x, y, batch_size=1000, verbose=0)
    return model, float(loss), float(accuracy)


def gumbel_top(logits, n, seed):
    """Indices of `n` items drawn without replacement with probability ∝ `exp(logits)` (Gumbel top-n)."""
    gumbel = np.random.default_rng(seed).gumbel(size=len(logits))
    return np.sort(np.argsort(-(logits + gumbel), kind="stable")[:n])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save-dir", required=True)
    parser.add_argument("--tokenizer", default="ours", choices=sorted(TOKENIZER_FILES))
    parser.add_argument("--sampling", default="{}", help='JSON prior.sample arguments; "guide": a snapshot fraction')
    parser.add_argument("--fake", type=int, default=20000, help="sampled grids the classifier trains on")
    parser.add_argument("--steps", type=int, default=2000, help="classifier steps (batch 256)")
    parser.add_argument("--oversample", type=float, default=3.0)
    parser.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON results")
    args = parser.parse_args()
    quality.check_data()
    sampling = json.loads(args.sampling)
    prior_name = PRIOR_FILES[args.tokenizer]
    tokenizer = quality.load_saved(os.path.join(args.save_dir, TOKENIZER_FILES[args.tokenizer]))
    prior = quality.load_saved(os.path.join(args.save_dir, prior_name + ".keras"))
    if "guide" in sampling:
        fraction = f"{sampling['guide']:g}".replace(".", "p")
        sampling["guide"] = quality.load_saved(os.path.join(args.save_dir, f"{prior_name}_at_{fraction}.keras"))
    train_x, test_x = quality.fashion_images("train"), quality.fashion_images("test")
    real = quality.encode_all(tokenizer, train_x).astype("int32")
    t0 = time.perf_counter()
    fake = quality.sample_tokens(prior, args.fake, seed=10_000_000 + args.seed, chunk=500, **sampling)
    candidates = quality.sample_tokens(prior, int(np.ceil(args.oversample * args.samples)), seed=args.seed, chunk=500,
                                       **sampling)
    sample_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    classifier, loss, accuracy = fit_classifier(real, fake, prior.num_embeddings, args.steps, seed=args.seed)
    fit_seconds = time.perf_counter() - t0
    print(f"sampled {len(fake) + len(candidates)} grids in {sample_seconds:.0f} s; classifier {fit_seconds:.0f} s, "
          f"held-out loss {loss:.3f}, accuracy {accuracy:.3f}", flush=True)
    logits = classifier.predict(candidates, batch_size=1000, verbose=0)[:, 0]
    extractor = quality.EfficientNetLite0Features(image_size=128)
    test_stats = quality.statistics(test_x, extractor)
    selection_stats = quality.statistics(train_x[-quality.SELECTION_IMAGES:], extractor)
    rows = []
    for alpha in quality.floats(args.alphas):
        kept = candidates[gumbel_top(alpha * logits, args.samples, seed=args.seed)]
        images = quality.decode_all(tokenizer, kept, chunk=500)
        stats = quality.statistics(images, extractor)
        weights = np.exp(alpha * (logits - logits.max()))
        rows.append(dict(alpha=alpha, selection_fid=quality.frechet_distance(*stats, *selection_stats),
                         fid=quality.frechet_distance(*stats, *test_stats),
                         effective_candidates=float(weights.sum() ** 2 / (weights ** 2).sum()),
                         unique_kept=int(len(np.unique(kept.reshape(len(kept), -1), axis=0)))))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.tokenizer}, {args.samples} of {len(candidates)} candidates, sampling {args.sampling}; classifier "
          f"held-out accuracy {accuracy:.3f}:\n\n| α | Selection FID | Test FID | Effective candidates |\n"
          "|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['alpha']:g} | {row['selection_fid']:.1f} | {row['fid']:.1f} | "
              f"{row['effective_candidates']:.0f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "classifier": dict(loss=loss, accuracy=accuracy, seconds=fit_seconds),
                       "sample_seconds": sample_seconds, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
