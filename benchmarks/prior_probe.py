"""Held-out NLL probe for the priors' learning rate and dropout in `benchmarks/quality.py` (issue 7).

Usage (from the repository root):

    python benchmarks/prior_probe.py --tokenizer-minutes 2 --prior-minutes 2

Trains the baseline (keras.io example architecture, Adam 1e-3) and vqkeras ("plain" preset, Adam 2e-3) tokenizers
for `--tokenizer-minutes` each, encodes the 60,000 training images, and trains each prior setting below for
`--prior-minutes` on the first 55,000 grids with `quality.fit_prior`. Prints the loss on the 5,000 held-out grids.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)

# (tokenizer, prior, AdamW learning rate, transformer dropout)
SETTINGS = [("baseline", "pixelcnn", 3e-4, 0.0), ("baseline", "pixelcnn", 1e-3, 0.0),
            ("ours", "transformer", 3e-4, 0.1), ("ours", "transformer", 1e-3, 0.1), ("ours", "transformer", 1e-3, 0.0)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer-minutes", type=float, default=2.0)
    parser.add_argument("--prior-minutes", type=float, default=2.0)
    args = parser.parse_args()
    quality.check_data()

    quality.keras.utils.set_random_seed(0)
    train_ds = quality.train_images(64)
    train_x = quality.fashion_images("train")
    tokenizers = {"baseline": (quality.KerasIOVQVAE(num_embeddings=64), quality.BASELINE_LEARNING_RATE),
                  "ours": (quality.ours(64, quality.OURS_PRESETS["plain"]), quality.OURS_LEARNING_RATES["plain"])}
    tokens = {}
    for key, (model, lr) in tokenizers.items():
        quality.train(model, train_ds, args.tokenizer_minutes, lr)
        tokens[key] = quality.encode_all(model, train_x)
    for key, kind, lr, dropout in SETTINGS:
        prior = quality.pixelcnn_prior() if kind == "pixelcnn" else quality.transformer_prior(dropout)
        info = quality.fit_prior(prior, tokens[key][:55000], args.prior_minutes, lr=lr)
        held_out = prior.evaluate(tokens[key][55000:], batch_size=500, verbose=0, return_dict=True)
        print(f"{key} + {kind}, lr {lr:g}, dropout {dropout:g}: {info['steps']} steps, "
              f"held-out loss {float(held_out['loss']):.3f} nats/token", flush=True)


if __name__ == "__main__":
    main()
