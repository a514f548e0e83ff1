"""Style measure of `ImageGenerator.generate_image`: does a look-alike keep its own style image's style?

Run from the repository root (needs `saved_models/fashion_vqgan.keras` and Debian's `dataset-fashion-mnist`):

    python benchmarks/style_measure.py

Draws `--pairs` pairs (A, B) of Fashion-MNIST *test* images (never seen in training) from different classes. For each
pair, one look-alike of A and one of B are generated; a look-alike of A "keeps its style" when its Gram-matrix style
distance (`vqkeras.metrics.StyleDistance`, Gatys et al. on EfficientNet-Lite0 features) to A is smaller than to B.
Reported per strength, as the fraction of look-alikes and of pairs (both look-alikes right). Two references frame
the figure: the style image's own reconstruction (strength 0, a copy) and an unconditional `generate` sample (no
style at all; expected near 50%). The fraction of tokens that changed and the pixel RMS to the reconstruction show
that the look-alikes are not copies.
"""

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vqkeras  # noqa: E402
from common import DOCS_PATH  # noqa: E402  (sibling script module)
from common import write_section  # noqa: E402
from vqkeras.metrics import StyleDistance  # noqa: E402

HEADING = "## Style measure of generate_image"


def draw_pairs(labels, pairs, seed):
    """`pairs` index pairs (a, b) with different labels, every image used at most once."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    chosen, used = [], set()
    for a in order:
        if a in used:
            continue
        for b in order:
            if b not in used and b != a and labels[b] != labels[a]:
                chosen.append((int(a), int(b)))
                used.update((a, b))
                break
        if len(chosen) == pairs:
            return chosen
    raise ValueError(f"Could not draw {pairs} pairs from {len(labels)} images")


def score(style, generated, style_images, pairs):
    """Fractions of look-alikes (and of pairs) closer in style to their own style image than to the other one."""
    # generated[2i] is the look-alike of pairs[i][0], generated[2i + 1] that of pairs[i][1].
    distances = np.asarray(style.pairwise(generated, style_images))
    right = []
    for i, (a, b) in enumerate(pairs):
        right.append(distances[2 * i, 2 * i] < distances[2 * i, 2 * i + 1])
        right.append(distances[2 * i + 1, 2 * i + 1] < distances[2 * i + 1, 2 * i])
    right = np.array(right)
    return right.mean(), right.reshape(-1, 2).all(axis=1).mean(), distances


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join("saved_models", "fashion_vqgan.keras"))
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--strengths", default="0.25,0.5,0.75,1.0", help="comma-separated generate_image strengths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=128, help="StyleDistance input size")
    parser.add_argument("--output", default=DOCS_PATH, help="Markdown file whose section is rewritten")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    generator = vqkeras.export.load_model(args.model)
    images, labels = vqkeras.data.load_offline_arrays("fashion_mnist", split="test")
    pairs = draw_pairs(labels, args.pairs, args.seed)
    order = [i for pair in pairs for i in pair]  # A0, B0, A1, B1, ...
    style_images = generator.prepare_images(images[order], argument="style_images")
    style = StyleDistance(image_size=args.image_size)
    reconstructions = np.clip(np.asarray(generator.tokenizer(style_images)), -1, 1)

    rows = []
    frac, pair_frac, _ = score(style, reconstructions, style_images, pairs)
    rows.append(("reconstruction (strength 0: a copy of the codes)", frac, pair_frac, 0.0, 0.0))
    unconditional = np.clip(np.asarray(generator.generate(len(order), seed=args.seed)), -1, 1)
    frac, pair_frac, _ = score(style, unconditional, style_images, pairs)
    rows.append(("unconditional `generate` (no style image)", frac, pair_frac, float("nan"), float("nan")))
    for strength in (float(s) for s in args.strengths.split(",")):
        generated, changed = [], []
        for j in range(len(order)):
            image, tokens_in, tokens_out = generator.generate_image(
                style_images[j], strength=strength, seed=args.seed + j, return_tokens=True)
            generated.append(np.clip(np.asarray(image)[0], -1, 1))
            changed.append(np.mean(tokens_out[0] != tokens_in))
        generated = np.stack(generated)
        frac, pair_frac, _ = score(style, generated, style_images, pairs)
        rms = float(np.sqrt(np.mean((generated - reconstructions) ** 2)))
        rows.append((f"`generate_image(strength={strength:g})`", frac, pair_frac, float(np.mean(changed)), rms))
        print(f"strength {strength:g}: {100 * frac:.1f}% of look-alikes, {100 * pair_frac:.1f}% of pairs, "
              f"{100 * np.mean(changed):.1f}% tokens changed, RMS to reconstruction {rms:.3f}", flush=True)

    command = "python benchmarks/style_measure.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        HEADING,
        "",
        f"Command: `{command.strip()}` (from the repository root). Date: {time.strftime('%Y-%m-%d')}. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}. Run time {time.perf_counter() - start:.0f} s.",
        "",
        f"Model: `{args.model}` (see `saved_models/README.md`). Style images: {args.pairs} pairs of Fashion-MNIST "
        f"test images (never seen in training) from different classes, drawn with seed {args.seed}; one look-alike "
        "per style image. A look-alike of A is right when its style distance to A is smaller than to B. Style "
        f"distance: `vqkeras.metrics.StyleDistance` (Gram matrices of 5 EfficientNet-Lite0 layers, images resized "
        f"to {args.image_size}×{args.image_size}; Gatys et al. 2016).",
        "",
        "| Images compared with the style pair | Look-alikes right | Pairs right (both) | Tokens changed | "
        "RMS to the reconstruction |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, frac, pair_frac, changed, rms in rows:
        lines.append(f"| {name} | {100 * frac:.1f}% | {100 * pair_frac:.1f}% | "
                     + ("–" if np.isnan(changed) else f"{100 * changed:.1f}%") + " | "
                     + ("–" if np.isnan(rms) else f"{rms:.3f}") + " |")
    default = next((r for r in rows if r[0] == "`generate_image(strength=0.5)`"), None)
    if default is not None:
        lines += ["", f"Target: ≥ 90% of pairs. At the default strength 0.5: {100 * default[2]:.1f}% of pairs "
                  f"({'met' if default[2] >= 0.9 else 'not met'}), {100 * default[1]:.1f}% of look-alikes."]
    lines += [
        "",
        "How to read it: the reconstruction row is the ceiling (a copy), the unconditional row is what chance and the "
        "class mix give without any style image. `strength` is the fraction of codes re-sampled; where a row falls "
        "to the unconditional row's level, the histogram bias alone no longer carries a measurable style.",
        "",
    ]
    write_section(args.output, "\n".join(lines), HEADING)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
