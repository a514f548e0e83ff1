"""Short probes for choosing the vqkeras configuration of `benchmarks/quality.py` (issue 7).

Usage (from the repository root):

    python benchmarks/quality_probe.py '{"normalization": "none"}' --minutes 3 --lr 2e-3
    python benchmarks/quality_probe.py '{}' --baseline --minutes 3

Trains one K=64 model on Fashion-MNIST for a wall-clock budget with `quality.train`, the loop of the benchmark, and
prints the test-set PSNR, the step count and the PSNR curve on 1,000 test images. The JSON argument overrides the
"narrow" preset's `VQVAE` arguments. With `--baseline` it trains the keras.io example architecture instead. Its
defaults stay those of the earlier probes (batch 64, Adam β₂ = 0.999), so their commands still repeat them; pass
`--batch-size 32 --beta-2 0.95` for `benchmarks/quality.py`'s current settings.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module; sets the TF log level, checks nothing yet)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", help='JSON object of VQVAE arguments, e.g. \'{"latent_dim": 16}\'')
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--beta-2", type=float, default=0.999, help="Adam beta_2")
    parser.add_argument("--baseline", action="store_true", help="the keras.io example architecture instead")
    parser.add_argument("--decay", action="store_true", help="cosine learning-rate decay over the time budget")
    parser.add_argument("--anneal", type=float, default=0.0,
                        help="fraction of the budget at the end over which the learning rate falls linearly to 0")
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    args = parser.parse_args()
    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as error:
        parser.error(f"overrides must be a JSON object. Received: {args.overrides!r} ({error})")
    if not isinstance(overrides, dict):
        parser.error(f"overrides must be a JSON object. Received: {args.overrides!r}")
    quality.check_data()

    import tensorflow as tf

    quality.keras.utils.set_random_seed(0)
    train_ds = quality.train_images(args.batch_size)
    test_x = quality.fashion_images("test")
    if args.baseline:
        model = quality.KerasIOVQVAE(num_embeddings=64, name="keras_io_k64")
    else:
        model = quality.ours(64, {**quality.OURS_PRESETS["narrow"], **overrides})
    budget = quality.train(model, train_ds, args.minutes, args.lr, probe=test_x[:1000], decay=args.decay,
                           anneal=args.anneal, jit_compile=args.jit, beta_2=args.beta_2)
    stats = quality.evaluate_model(model, tf.data.Dataset.from_tensor_slices(test_x).batch(500), verbose=0)
    print(json.dumps({"overrides": overrides, "lr": args.lr, "batch_size": args.batch_size, "beta_2": args.beta_2,
                      "decay": args.decay, "anneal": args.anneal, "jit": args.jit, "steps": budget.steps,
                      "params": int(model.count_params()), "psnr": round(float(stats["psnr"]), 2),
                      "perplexity": round(float(stats["perplexity"]), 1),
                      "curve": [(round(c["seconds"]), c["steps"], round(float(c["psnr"]), 2)) for c in budget.curve]}))


if __name__ == "__main__":
    main()
