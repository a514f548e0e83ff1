"""Refining decoded images with the VQGAN's own discriminator, at sampling time (issue 7).

Usage (from the repository root), after `python benchmarks/prior_fid_probe.py --save-dir D ... --save-priors`:

    python benchmarks/refine_probe.py --save-dir D --settings '[{"steps": 10, "step_size": 0.05}]'

Discriminator-driven refinement in the spirit of Che et al. 2020 ("Your GAN is secretly an energy-based model"):
the code vectors `v₀ = e[k]` of a token grid `k` become a continuous start point, and each of `steps` steps moves
them to raise the discriminator's mean logit of the decoded image, pulled back towards `v₀`:

    v ← v + η·s·g/‖g‖ₘₛ − a·(v − v₀) + σ·s·ε,    g = ∇ᵥ mean D(decoder(v)),  ε ~ N(0, I)

where `s` is the RMS of the codebook's entries (so `η`, `step_size`, and `σ`, `noise`, are fractions of a code
vector's size), `‖g‖ₘₛ` the per-image RMS of `g` (normalised steps), and `a` is `anchor`. It runs on the FID
reference's two sides: the test set's reconstructions (the tokenizer alone, no prior noise) and the prior's samples
(`probe_prior_0.keras`, temperature 1). Prints the FID (EfficientNet-Lite0) of each against the 10,000 test images,
step 0 being the unrefined images. The refinement costs sampling time only; it needs the VQGAN's discriminator.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)
from prior_fid_probe import TOKENIZER_FILES, probe_prior_path  # noqa: E402

tf = quality.tf
np = quality.np


def refiner(gan, steps, step_size, anchor=0.0, noise=0.0, seed=0):
    """A function from int token grids to refined images in [-1, 1] (see the module docstring)."""
    codebook = gan.quantizer.get_codebook_entries(tf.range(gan.quantizer.num_embeddings))
    scale = float(tf.sqrt(tf.reduce_mean(tf.square(tf.cast(codebook, "float32")))))
    generator = tf.random.Generator.from_seed(seed)

    def energy_gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            logits = gan.discriminator(gan.decoder(gan.post_quant(v), training=False), training=False)
            score = tf.reduce_sum(tf.reduce_mean(tf.cast(logits, "float32"), axis=[1, 2, 3]))
        return tape.gradient(score, v)

    @tf.function(reduce_retracing=True)
    def run(indices):
        v0 = tf.cast(gan.quantizer.get_codebook_entries(indices), "float32")
        v = v0
        for _ in tf.range(steps):
            g = energy_gradient(v)
            rms = tf.sqrt(tf.reduce_mean(tf.square(g), axis=[1, 2, 3], keepdims=True)) + 1e-12
            v = v + step_size * scale * g / rms - anchor * (v - v0)
            if noise:
                v = v + noise * scale * generator.normal(tf.shape(v))
        return tf.clip_by_value(gan.decoder(gan.post_quant(v), training=False), -1.0, 1.0)

    return lambda indices: run(tf.convert_to_tensor(indices, "int32")).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save-dir", required=True, help="holds vqkeras_k64_gan_generation.keras and probe_prior_0")
    parser.add_argument("--settings", required=True,
                        help="JSON list of objects with steps, step_size and optional anchor, noise")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--sampling", default='{"temperature": 1.0}', help="JSON sampling settings of the prior")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON results")
    args = parser.parse_args()
    try:
        settings, sampling = json.loads(args.settings), json.loads(args.sampling)
    except json.JSONDecodeError as error:
        parser.error(f"--settings and --sampling must be JSON. Received: {args.settings!r}, {args.sampling!r} "
                     f"({error})")
    if not isinstance(settings, list) or not all(isinstance(s, dict) and {"steps", "step_size"} <= set(s)
                                                 for s in settings):
        parser.error(f"--settings must be a JSON list of objects with steps and step_size. Received: {args.settings!r}")
    gan_path = os.path.join(args.save_dir, TOKENIZER_FILES["ours"])
    prior_path = probe_prior_path(args.save_dir, 0)
    missing = [path for path in (gan_path, prior_path) if not os.path.isfile(path)]
    if missing:
        parser.error(f"--save-dir {args.save_dir!r} lacks {', '.join(missing)}")
    quality.check_data()
    gan, prior = quality.load_saved(gan_path), quality.load_saved(prior_path)
    if not hasattr(gan, "discriminator"):
        parser.error(f"{gan_path} is a {type(gan).__name__}, not a VQGAN: it has no discriminator")
    test_x = quality.fashion_images("test")
    extractor = quality.EfficientNetLite0Features(image_size=128)
    test_stats = quality.statistics(test_x, extractor)
    sources = {"reconstructions": quality.encode_all(gan, test_x[:args.samples]),
               "samples": quality.sample_tokens(prior, args.samples, args.seed, **sampling)}
    rows = []
    for setting in [{"steps": 0, "step_size": 0.0}] + settings:
        refine = refiner(gan, seed=args.seed, **setting)
        row = {"setting": setting}
        for name, tokens in sources.items():
            images = quality.in_chunks(refine, np.asarray(tokens), chunk=250)
            row[name] = quality.fid_against(images, extractor, test_stats)
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = [f"| `{json.dumps(row['setting'])}` | {row['reconstructions']:.1f} | {row['samples']:.1f} |"
             for row in rows]
    print("\n".join(["", "| Setting | Reconstruction FID | Sample FID |", "|---|---:|---:|", *table]))
    if args.out:
        quality.save({"args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
