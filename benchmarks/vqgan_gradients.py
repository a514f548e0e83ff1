"""VQ-GAN generator gradients: the library's (taming's) three tape calls against one backward pass per loss network.

Run from the repository root:

    python benchmarks/vqgan_gradients.py

`VQGAN.generator_gradients` takes the adaptive weight's last-layer gradients `∇_w L_nll` and `∇_w L_adv` from the
losses themselves, then the update's gradient from the total loss, as taming-transformers does. Written out, that
runs the perceptual backbone's and the discriminator's backward passes twice. `SingleBackwardVQGAN` below overrides
`generator_gradients` alone: it backpropagates each loss to the reconstructions `x̂` once and continues both the
last-layer gradients and the update from there (`output_gradients`). Both give the same update;
`tests/models/test_vqgan.py::test_generator_update_is_the_gradient_of_the_whole_loss` checks the library's against
one plain tape.

Both models are the benchmark's Fashion-MNIST generation tokenizer (`quality.py`'s "shuffle" preset at K = 64, as a
VQGAN with `quality.GAN_SETTINGS` and the perceptual loss at 56×56), built from one seed, on one real batch of
training images. After tracing and warm-up, the timed `train_on_batch` calls alternate between them; the figures are
medians.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)
from quality import keras  # noqa: E402
from quality import tf  # noqa: E402
from quality import vqkeras  # noqa: E402


class SingleBackwardVQGAN(vqkeras.models.VQGAN):
    """Each loss backpropagated to `x̂` once; `λ`'s gradients and the update continue from there (one device)."""

    def generator_gradients(self, images, adversarial_factor):
        scale = self.optimizer.scale_loss(tf.constant(1.0))
        with tf.GradientTape(persistent=True) as tape:
            out = self.generator_losses(images)
            scaled_nll_loss = out["nll_loss"] * scale
            scaled_adv_loss = out["generator_adv_loss"] * scale
        fake = out["reconstructions"]
        nll_to_fake = tape.gradient(scaled_nll_loss, fake)
        adv_to_fake = tape.gradient(scaled_adv_loss, fake)
        nll_grads, adv_grads = (
            tape.gradient(fake, self.decoder.conv_out.kernel, output_gradients=g) / scale
            for g in (nll_to_fake, adv_to_fake)
        )
        out["adaptive_weight"] = self.disc_weight * vqkeras.losses.adaptive_weight(nll_grads, adv_grads)
        adv_factor = out["adaptive_weight"] * adversarial_factor
        out["loss"] = out["nll_loss"] + adv_factor * out["generator_adv_loss"] + self.codebook_weight * out["vq_loss"]
        grads = tape.gradient([fake, out["vq_loss"]], self.generator_variables,
                              output_gradients=[nll_to_fake + adv_factor * adv_to_fake, self.codebook_weight * scale])
        return grads, out


def build(cls, batch):
    keras.utils.set_random_seed(0)
    settings = {**quality.GAN_SETTINGS, "perceptual_image_size": quality.PERCEPTUAL_IMAGE_SIZE}
    model = cls(image_channels=1, num_embeddings=64, name=cls.__name__, **quality.OURS_PRESETS["shuffle"],
                **settings)
    model.compile(optimizer=keras.optimizers.Adam(quality.GAN_LEARNING_RATE, beta_1=0.5),
                  discriminator_optimizer=keras.optimizers.Adam(quality.GAN_LEARNING_RATE, beta_1=0.5),
                  jit_compile=False)
    model.build(batch.shape)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per model (median)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps after the tracing step")
    args = parser.parse_args()
    quality.check_data()
    batch = tf.constant(quality.fashion_images("train")[: args.batch_size])
    models = {"VQGAN (three tape calls)": build(vqkeras.models.VQGAN, batch),
              "one backward per loss network": build(SingleBackwardVQGAN, batch)}
    for model in models.values():
        for _ in range(1 + args.warmup):
            model.train_on_batch(batch)
    times = {name: [] for name in models}
    names = list(models)
    for r in range(args.repeats):
        for name in names[r % 2:] + names[:r % 2]:
            start = time.perf_counter()
            models[name].train_on_batch(batch)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    reference = medians["VQGAN (three tape calls)"]
    print(f"batch {args.batch_size}, {args.repeats} alternated timed steps each, medians:")
    for name, seconds in medians.items():
        print(f"  {name}: {seconds * 1e3:.1f} ms/step, {seconds / reference:.2f}× the library's")


if __name__ == "__main__":
    main()
