"""The Keras epoch-boundary stall: how long `fit` waits for the first batch of each epoch (noticed under issue 7).

Usage (from the repository root):

    python benchmarks/epoch_stall.py --pipeline load_images --epochs 3
    python benchmarks/epoch_stall.py --pipeline hand --epochs 3
    python benchmarks/epoch_stall.py --pipeline none --epochs 3

Trains the keras.io example architecture (`benchmarks/keras_io_baseline.py`, the fastest model of the quality
benchmark) with `fit` over a finite Fashion-MNIST training set, batch 64, and prints, per epoch, the wait from the
epoch's start to its first batch and the epoch's time. Pipelines:
- `load_images`: `vqkeras.data.load_images("fashion_mnist", 28, batch_size=64, drop_remainder=True)`;
- `hand`: the same structure built by hand from float32 images (range → shuffle → batch → map(gather) → prefetch);
- `none`: no `fit`; the `load_images` dataset iterated in plain Python, each epoch from a new iterator.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)


class FirstBatchTimer(quality.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.first = time.perf_counter(), None

    def on_train_batch_begin(self, batch, logs=None):
        if self.first is None:
            self.first = time.perf_counter() - self.start

    def on_epoch_end(self, epoch, logs=None):
        report(epoch, self.first, time.perf_counter() - self.start)


def report(epoch, first, total):
    print(f"| {epoch} | {first:.2f} | {total:.1f} |", flush=True)


def dataset(pipeline):
    tf, vqkeras = quality.tf, quality.vqkeras
    if pipeline != "hand":
        return vqkeras.data.load_images("fashion_mnist", 28, split="train", batch_size=64, drop_remainder=True)
    images = tf.constant(vqkeras.utils.to_model_range(
        vqkeras.data.load_offline_arrays("fashion_mnist", split="train")[0]).astype("float32"))
    indices = tf.data.Dataset.range(images.shape[0]).shuffle(images.shape[0]).batch(64, drop_remainder=True)
    return indices.map(lambda i: tf.gather(images, i), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", choices=("load_images", "hand", "none"), default="load_images")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    quality.check_data()
    data = dataset(args.pipeline)
    print("| Epoch | Wait for the first batch (s) | Epoch (s) |\n|---:|---:|---:|", flush=True)
    if args.pipeline == "none":
        for epoch in range(args.epochs):
            start = time.perf_counter()
            iterator = iter(data)
            next(iterator)
            first = time.perf_counter() - start
            for _ in iterator:
                pass
            report(epoch, first, time.perf_counter() - start)
        return
    model = quality.KerasIOVQVAE(num_embeddings=64)
    model.compile(optimizer=quality.keras.optimizers.Adam(1e-3), jit_compile=False)
    model.fit(data, epochs=args.epochs, callbacks=[FirstBatchTimer()], verbose=0)


if __name__ == "__main__":
    main()
