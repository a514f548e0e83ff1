"""Where the time of the quality benchmark's training step goes (issue 7).

Usage (from the repository root):

    python benchmarks/step_profile.py --steps 200

Times `train_step` (in one `tf.function`, on one fixed batch, after 5 warm-up steps) side by side in one run: the
"plain" vqkeras VQVAE of `benchmarks/quality.py` (64 random 28×28 images) and variants that remove one part each
(the dead-code restarts, the EMA quantizer, the metric trackers); the "shuffle" preset (the decoder's
`upsample="pixel_shuffle"`) and the "patch" preset (`patch_size=2`); the keras.io example architecture, for scale;
and the two priors (128 random 7×7 grids of K = 64 codes), the transformer with each MLP activation, and the
"shuffle" preset, the keras.io architecture and both priors compiled with XLA (`jit_compile=True`, the step in one
XLA cluster, as `fit` compiles it). `--variants
plain,shuffle` times the variants whose names start with those prefixes. The "plain" model is timed first and last,
to show the drift of the run.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)


def prepare(model, jit_compile=False):
    """Compiles and builds `model` with the quality benchmark's optimizer and returns `(model, batch)`: 64 random
    28×28 images for an autoencoder, 128 random 7×7 grids of K = 64 codes for a prior."""
    tf, keras = quality.tf, quality.keras
    if isinstance(model, quality.vqkeras.priors.BasePrior):
        batch = tf.random.uniform((128, 7, 7), 0, 64, dtype=tf.int32, seed=0)
        model.compile(optimizer=keras.optimizers.AdamW(quality.PRIOR_LEARNING_RATE, weight_decay=0.01),
                      jit_compile=jit_compile)
    else:
        batch = tf.random.uniform((64, 28, 28, 1), -1.0, 1.0, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=jit_compile)
        model.build((None, 28, 28, 1))
    model.optimizer.build(model.trainable_variables)
    return model, batch


def warm_step(model, batch, jit_compile=False):
    """`model.train_step` as one `tf.function` (XLA-compiled with `jit_compile`), traced and called 5 times on
    `batch`."""
    step = quality.tf.function(model.train_step, jit_compile=jit_compile)
    for _ in range(5):
        step(batch)
    return step


def ms_per_step(model, steps, jit_compile=False):
    model, batch = prepare(model, jit_compile)
    step = warm_step(model, batch, jit_compile)
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return 1000.0 * (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--variants", default=None,
                        help="comma-separated prefixes of the variant names to time (default: all)")
    args = parser.parse_args()
    vqkeras = quality.vqkeras
    config = quality.OURS_PRESETS["plain"]

    class Untracked(vqkeras.models.VQVAE):
        def update_trackers(self, images, out, **values):
            return {}

    variants = {
        "plain": lambda: quality.ours(64, config),
        "plain, no dead-code restarts": lambda: quality.ours(64, config, quantizer=vqkeras.layers.VectorQuantizerEMA(
            64, config["latent_dim"], dead_code_threshold=0.0, name="quantizer")),
        "plain, gradient codebook": lambda: quality.ours(64, config, quantizer="gradient"),
        "plain, no metric trackers": lambda: Untracked(image_channels=1, num_embeddings=64, reconstruction_loss="l2",
                                                       **config),
        "shuffle (plain with upsample='pixel_shuffle')": lambda: quality.ours(64, quality.OURS_PRESETS["shuffle"]),
        "patch (shuffle with patch_size=2, channel_multipliers=(4, 4))": lambda: quality.ours(
            64, quality.OURS_PRESETS["patch"]),
        "keras.io example architecture": lambda: quality.KerasIOVQVAE(num_embeddings=64),
        **{f"transformer prior, {activation} MLP": (lambda activation=activation: quality.transformer_prior(
            mlp_activation=activation)) for activation in ("gelu", "gelu_tanh", "silu", "relu")},
        "PixelCNN prior": quality.pixelcnn_prior,
        "XLA shuffle": (lambda: quality.ours(64, quality.OURS_PRESETS["shuffle"]), True),
        "XLA keras.io example architecture": (lambda: quality.KerasIOVQVAE(num_embeddings=64), True),
        "transformer prior, XLA": (quality.transformer_prior, True),
        "PixelCNN prior, XLA": (quality.pixelcnn_prior, True),
        "plain (again)": lambda: quality.ours(64, config),
    }
    wanted = None if args.variants is None else args.variants.split(",")
    for name, build in variants.items():
        if wanted is not None and not any(name.startswith(prefix) for prefix in wanted):
            continue
        build, jit_compile = build if isinstance(build, tuple) else (build, False)
        print(f"| {name} | {ms_per_step(build(), args.steps, jit_compile):.1f} |", flush=True)


if __name__ == "__main__":
    main()
