"""The quality benchmark's VQGAN step with the perceptual loss on fewer backbone layers, timed side by side (issue 7).

Usage (from the repository root):

    python benchmarks/perceptual_cost.py --load runs/P/l2.keras --blocks 0,2,5 --blocks 0,2
    python benchmarks/perceptual_cost.py --xla
    python benchmarks/perceptual_cost.py --variant '{"code_prediction_weight": 0.3}'

Continues the saved K=64 tokenizer `--load` (default: a fresh one of the benchmark's preset; timing needs no trained
weights) as `quality.train_gan` does (`quality.GAN_SETTINGS`, the perceptual loss
on MobileNetV2 at `quality.PERCEPTUAL_IMAGE_SIZE`), once per variant: the default layers (blocks 0, 2, 5, 12, 16),
each `--blocks` list (`VQGAN(perceptual_layers=...)`, MobileNetV2 block outputs), each `--variant` (JSON overrides
of those settings), no perceptual loss, and the
`VQVAE` step for reference; with `--xla`, also the default VQGAN step and the `VQVAE` step compiled with XLA
(`jit_compile=True`). Every variant is built and warmed up first; then rounds of `--steps` `train_on_batch`
calls on one batch of 32 Fashion-MNIST images alternate between the variants, and each figure is the median round.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", default=None, help="a saved K=64 VQVAE (.keras), e.g. runs/P/l2.keras (default: a "
                        "fresh one of the benchmark's preset)")
    parser.add_argument("--xla", action="store_true", help="also time the default step and the VQVAE's with XLA")
    parser.add_argument("--blocks", action="append", default=[],
                        help="comma-separated MobileNetV2 block indices (repeatable)")
    parser.add_argument("--variant", action="append", default=[],
                        help="JSON overrides of the default step's VQGAN settings, timed as one more variant "
                             "(repeatable), e.g. '{\"code_prediction_weight\": 0.3}'")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    quality.check_data()
    import keras
    import vqkeras
    from vqkeras.backbones.mobilenet_v2 import block_output_name

    try:
        blocks = [[int(i) for i in text.split(",")] for text in args.blocks]
    except ValueError:
        parser.error(f"--blocks must be comma-separated integers. Received: {args.blocks}")
    x = quality.fashion_images("train[:32]")
    settings = {"perceptual_image_size": quality.PERCEPTUAL_IMAGE_SIZE, **quality.GAN_SETTINGS}
    variants = {"default layers (blocks 0, 2, 5, 12, 16)": settings}
    for indices in blocks:
        name = f"blocks {', '.join(map(str, indices))}"
        variants[name] = {**settings, "perceptual_layers": [block_output_name(i) for i in indices]}
    for text in args.variant:
        try:
            variants[text] = {**settings, **json.loads(text)}
        except (ValueError, TypeError):
            parser.error(f"--variant must be a JSON object. Received: {text!r}")
    variants["no perceptual loss"] = {**settings, "perceptual_weight": 0.0}

    def tokenizer():
        if args.load is None:
            model = quality.ours(64, quality.OURS_PRESETS[quality.DEFAULTS["ours"]])
            model.build(x.shape)
            return model
        return quality.load_saved(args.load)

    def gan(options, jit_compile=False):
        model = vqkeras.models.VQGAN.from_vqvae(tokenizer(), **options)
        model.compile(optimizer=keras.optimizers.Adam(quality.GAN_LEARNING_RATE, beta_1=0.5),
                      discriminator_optimizer=keras.optimizers.Adam(quality.GAN_LEARNING_RATE, beta_1=0.5),
                      jit_compile=jit_compile)
        return model

    def vqvae(jit_compile=False):
        model = tokenizer()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
        return model

    models = {name: gan(options) for name, options in variants.items()}
    models["VQVAE (no GAN)"] = vqvae()
    if args.xla:
        models["default layers, XLA"] = gan(settings, jit_compile=True)
        models["VQVAE (no GAN), XLA"] = vqvae(jit_compile=True)
    for model in models.values():
        for _ in range(5):
            model.train_on_batch(x)
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x)
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
    reference = statistics.median(times[next(iter(times))])
    print("| Step (batch 32) | ms per step (median round) | Steps per second vs default layers |\n|---|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {reference / median:.2f}× |")


if __name__ == "__main__":
    main()
