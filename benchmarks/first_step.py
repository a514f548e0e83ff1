"""The first `fit` step of each model: vqkeras' build before the first trace against Keras' deferred build.

Usage (from the repository root):

    python benchmarks/first_step.py --rounds 2

Without a distribution strategy, Keras' TensorFlow trainer builds a model's weights and optimizer inside the first
traced training step. A `tf.function` whose first trace creates variables is traced a second time, so the first
step pays for two traces of the whole step. `VQVAE` (and so `VQGAN`) and the priors build both before that trace
(`_maybe_symbolic_build`). This script times, side by side in one process, a fresh model's first `fit` (one epoch of
2 steps; tracing dominates) with the library's build and with Keras' deferred one (the override bypassed), for the
quality benchmark's models: our "shuffle" VQVAE, it as a VQGAN with `quality.GAN_SETTINGS`, the transformer and
the PixelCNN priors. A warm-up fit runs first; the two ways alternate over `--rounds` rounds.
"""

import argparse
import os
import statistics
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)


def keras_deferred(model):
    """`model` with Keras' own `_maybe_symbolic_build` instead of the library's (the build deferred to the trace)."""
    keras = quality.keras
    model._maybe_symbolic_build = types.MethodType(
        lambda self, iterator=None, data_batch=None: keras.Model._maybe_symbolic_build(
            self, iterator=iterator, data_batch=data_batch), model)
    return model


def builders():
    """`{name: (fresh compiled model, its data)}` makers for the quality benchmark's four models."""
    keras, np = quality.keras, quality.np
    images = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
    tokens = np.random.default_rng(0).integers(0, 64, (8, 7, 7)).astype("int32")

    def vqvae():
        model = quality.ours(64, quality.OURS_PRESETS[quality.DEFAULTS["ours"]])
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model, images

    def vqgan():
        tokenizer = quality.ours(64, quality.OURS_PRESETS[quality.DEFAULTS["ours"]])
        tokenizer.build(images.shape)
        model = quality.vqkeras.models.VQGAN.from_vqvae(
            tokenizer, perceptual_image_size=quality.PERCEPTUAL_IMAGE_SIZE, **quality.GAN_SETTINGS)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), discriminator_optimizer=keras.optimizers.Adam(1e-3))
        return model, images

    def prior(make):
        def build():
            model = make()
            model.compile(optimizer=keras.optimizers.AdamW(1e-3))
            return model, tokens
        return build

    return {"VQVAE (\"shuffle\")": vqvae, "VQGAN (GAN_SETTINGS)": vqgan,
            "TransformerPrior": prior(quality.transformer_prior), "PixelCNNPrior": prior(quality.pixelcnn_prior)}


def first_fit_seconds(model, data):
    start = time.perf_counter()
    model.fit(data, epochs=1, batch_size=4, verbose=0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    makers = builders()
    first_fit_seconds(*makers["TransformerPrior"]())  # warm-up: TensorFlow's one-time costs
    times = {(name, way): [] for name in makers for way in ("library", "keras")}
    for _ in range(args.rounds):
        for name, make in makers.items():
            for way in ("library", "keras"):
                model, data = make()
                times[(name, way)].append(first_fit_seconds(keras_deferred(model) if way == "keras" else model, data))
    print("| Model | First fit, library build (s) | First fit, Keras' deferred build (s) | Ratio |")
    print("|---|---:|---:|---:|")
    for name in makers:
        library = statistics.median(times[(name, "library")])
        deferred = statistics.median(times[(name, "keras")])
        print(f"| {name} | {library:.1f} | {deferred:.1f} | {library / deferred:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
