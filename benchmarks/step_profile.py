"""Where the time of the quality benchmark's training step goes (issue 7).

Usage (from the repository root):

    python benchmarks/step_profile.py --steps 200

Times `train_step` (in one `tf.function`, on one fixed batch of 64 random 28×28 images, after 5 warm-up steps) of
the "plain" vqkeras VQVAE of `benchmarks/quality.py` and of variants that remove one part each, side by side in one
run: the dead-code restarts, the EMA quantizer (a gradient codebook instead), the metric trackers; and of the
"shuffle" preset (the decoder's `upsample="pixel_shuffle"`) and the "patch" preset (`patch_size=2`). `--variants plain,shuffle` times a subset. The keras.io
example architecture is timed for scale. The "plain" model is timed first and last, to show the drift of the run.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)


def ms_per_step(model, steps):
    tf, keras = quality.tf, quality.keras
    images = tf.random.uniform((64, 28, 28, 1), -1.0, 1.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=False)
    model.build((None, 28, 28, 1))
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step)
    for _ in range(5):
        step(images)
    start = time.perf_counter()
    for _ in range(steps):
        step(images)
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
        "plain (again)": lambda: quality.ours(64, config),
    }
    wanted = None if args.variants is None else args.variants.split(",")
    for name, build in variants.items():
        if wanted is not None and not any(name.startswith(prefix) for prefix in wanted):
            continue
        print(f"| {name} | {ms_per_step(build(), args.steps):.1f} |", flush=True)


if __name__ == "__main__":
    main()
