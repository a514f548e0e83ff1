"""Encode + decode throughput of the full-size taming ImageNet f16-16384 tokenizer: vqkeras (TF, CPU) against the
reference PyTorch model with the same weights, threads matched.

One random-weight taming model (76M parameters) is saved as a Lightning checkpoint and converted with
`vqkeras.convert.from_taming`. Each implementation then runs in its own fresh subprocess (so peak memory is its
own), alternated `--rounds` times: a warm-up, then `--repeats` timed `encode` + `decode` of a `--batch` of
`--size`² images. Reported: images/s (median over the timed repeats and rounds) and peak resident memory
(`VmHWM` of the subprocess). The TF side is timed twice: eager (`model.encode` / `model.decode`, the public
API) and the same calls inside one `tf.function`.

`--train-step` times VQ-GAN training steps of the same architecture instead, at `--batch` 1 by default, each side
with a PatchGAN discriminator of the same config (3 layers, 64 filters, BatchNorm: taming's `NLayerDiscriminator`,
vqkeras' `PatchDiscriminator`) and Adam(β = 0.5, 0.9) for both players (taming's optimizers). The generator loss
is the same on both sides: `L1 + λ·L_adv + L_vq`, with the hinge generator term `L_adv = −mean D(x̂)`, the adaptive
weight `λ = 0.75·‖∇L1‖ / (‖∇L_adv‖ + 10⁻⁴)` (taming's `disc_weight` of this config, gradients on the decoder's last
convolution) and the codebook + 0.25·commitment loss of the gradient-trained quantizer. The perceptual term is left
out on both sides: taming's LPIPS runs VGG16 with learned heads (neither its weights nor torchvision are on this
machine), vqkeras' `PerceptualLoss` runs EfficientNet-Lite0 without heads, so the two networks differ. Timed per
side:

- `generator_step`: forward, the losses, the backward pass and the generator's Adam update (vqkeras:
  `VQGAN.generator_gradients` and `optimizer.apply`, step 1 of `train_step`, in one `tf.function`; PyTorch:
  `torch_training_steps`, the discriminator frozen as Lightning toggles it for taming's generator pass, and in
  inference mode as vqkeras runs it there, where taming uses batch statistics);
- `train_step`: that and the discriminator's hinge-loss update on the real image against `sg(x̂)` (vqkeras: the
  whole `VQGAN.train_step` in one `tf.function`; PyTorch: the generator step then the discriminator step, reusing
  `x̂`, where taming's Lightning loop runs the autoencoder forward again for the discriminator).

Reported: seconds per step (median after the warm-up step), peak resident memory of each side's process, and the
ratios `PyTorch seconds / vqkeras seconds` (above 1: vqkeras is faster).

Run from a frozen copy (the developers' guide):

    git archive HEAD | tar -x -C /tmp/frozen-pretrained && cd /tmp/frozen-pretrained
    python benchmarks/pretrained.py --threads 2 --out /tmp/pretrained_bench.json
    python benchmarks/pretrained.py --train-step --threads 2 --repeats 2 --out /tmp/pretrained_train.json
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import max_rss_mib

# The training steps' settings, taming's for the f16-16384 config (`disc_weight`, the quantizer's β, Adam's betas);
# the learning rate only has to be the same on both sides.
LEARNING_RATE = 4.5e-6
BETAS = (0.5, 0.9)
DISC_WEIGHT = 0.75
DISC_CONFIG = {"num_layers": 3, "filters": 64}

def _make_checkpoint(folder):
    """A random-weight full-size f16-16384 taming model saved as a Lightning checkpoint; the converted .keras."""
    sys.path.insert(0, os.getcwd())
    from tests.convert.test_taming_reference import _random_model
    from tests.convert.test_taming_reference import _save_lightning_checkpoint
    from vqkeras.convert import from_taming
    from vqkeras.presets import get_preset

    config = get_preset("taming_imagenet_f16_16384")["config"]
    model = _random_model(config, 256)
    checkpoint = _save_lightning_checkpoint(model, os.path.join(folder, "last.ckpt"))
    from_taming(checkpoint, config=config).save(os.path.join(folder, "model.keras"))
    return checkpoint


def _torch_model(args):
    """The reference PyTorch model with the checkpoint's weights (the checkpoint itself freed), on `args.threads`."""
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    sys.path.insert(0, os.getcwd())
    from tests.convert.test_taming_reference import TamingVQModel
    from vqkeras.presets import get_preset

    model = TamingVQModel(get_preset("taming_imagenet_f16_16384")["config"], 256)
    state = torch.load(os.path.join(args.folder, "last.ckpt"), weights_only=False)["state_dict"]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("loss.")})
    return model


def _torch_worker(args):
    import torch

    model = _torch_model(args).eval()
    images = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1

    def step():
        with torch.no_grad():
            _, _, (_, _, indices) = model.quantize(model.latents(images))
            grid = args.size // 16
            codes = model.quantize.get_codebook_entry(indices.reshape(-1), (args.batch, grid, grid, 256))
            return model.decoder(model.post_quant_conv(codes))

    return {"torch": _time(step, args)}


def torch_training_steps(model, discriminator, images):
    """The PyTorch side's `(generator_step, train_step)` closures for a `TamingVQModel` and an `NLayerDiscriminator`
    on `images` (NCHW in [-1, 1]), with their Adam optimizers; `generator_step()` returns `(L_G, x̂)`.

    The losses are vqkeras' `VQGAN` ones without the perceptual term (see the module docstring): the discriminator
    runs in inference mode in the generator's pass, as in `VQGAN.generator_losses`, and in training mode (batch
    statistics) in its own update.
    """
    import torch

    generator_optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, betas=BETAS)
    discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=LEARNING_RATE, betas=BETAS)
    last_layer = model.decoder.conv_out.weight

    def generator_step():
        discriminator.eval().requires_grad_(False)
        quantized, vq_loss, _ = model.quantize(model.latents(images))
        reconstructions = model.decoder(model.post_quant_conv(quantized))
        reconstruction_loss = torch.mean(torch.abs(images - reconstructions))
        adversarial_loss = -torch.mean(discriminator(reconstructions))  # hinge generator term
        nll_grads = torch.autograd.grad(reconstruction_loss, last_layer, retain_graph=True)[0]
        adversarial_grads = torch.autograd.grad(adversarial_loss, last_layer, retain_graph=True)[0]
        weight = torch.clamp(torch.norm(nll_grads) / (torch.norm(adversarial_grads) + 1e-4), 0.0, 1e4).detach()
        loss = reconstruction_loss + DISC_WEIGHT * weight * adversarial_loss + vq_loss
        generator_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        generator_optimizer.step()
        discriminator.train().requires_grad_(True)
        return loss.detach(), reconstructions.detach()

    def train_step():
        _, reconstructions = generator_step()
        d_loss = 0.5 * (torch.mean(torch.relu(1.0 - discriminator(images)))
                        + torch.mean(torch.relu(1.0 + discriminator(reconstructions))))
        discriminator_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        discriminator_optimizer.step()

    return generator_step, train_step


def _torch_train_worker(args):
    import torch
    from taming.modules.discriminator.model import NLayerDiscriminator
    from taming.modules.discriminator.model import weights_init

    model = _torch_model(args).train()
    discriminator = NLayerDiscriminator(input_nc=3, ndf=DISC_CONFIG["filters"], n_layers=DISC_CONFIG["num_layers"])
    generator_step, train_step = torch_training_steps(model, discriminator.apply(weights_init).train(),
                                                      torch.rand(args.batch, 3, args.size, args.size) * 2 - 1)
    return {"torch_generator_step": _time(generator_step, args), "torch_train_step": _time(train_step, args)}


def _tf_worker(args):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import numpy as np

    import vqkeras  # noqa: F401

    model = keras.models.load_model(os.path.join(args.folder, "model.keras"))
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (args.batch, args.size, args.size, 3)), "float32")

    def eager():
        return model.decode(model.encode(images)).numpy()

    graph = tf.function(lambda x: model.decode(model.encode(x)))
    return {"tf_eager": _time(eager, args), "tf_function": _time(lambda: graph(images).numpy(), args)}


def _tf_train_worker(args):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import numpy as np

    from vqkeras.models import VQGAN
    from vqkeras.models import PatchDiscriminator

    tokenizer = keras.models.load_model(os.path.join(args.folder, "model.keras"))
    # The converted backbone itself (no copy), trained from the first step against a fresh discriminator.
    model = VQGAN(backbone=tokenizer.backbone, discriminator=PatchDiscriminator(**DISC_CONFIG, norm="batch"),
                  reconstruction_loss="l1", perceptual_weight=0.0, codebook_weight=1.0, disc_start=0,
                  disc_weight=DISC_WEIGHT, disc_loss="hinge")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE, beta_1=BETAS[0], beta_2=BETAS[1]),
                  discriminator_optimizer=keras.optimizers.Adam(LEARNING_RATE, beta_1=BETAS[0], beta_2=BETAS[1]),
                  jit_compile=False)
    model.build_for_training((None, args.size, args.size, 3))
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (args.batch, args.size, args.size, 3)), "float32")

    @tf.function
    def generator_step(x):
        grads, out = model.generator_gradients(x, 1.0)
        model.optimizer.apply(grads, model.generator_variables)
        return out["loss"]

    train_step = tf.function(model.train_step)
    return {"tf_generator_step": _time(lambda: generator_step(images).numpy(), args),
            "tf_train_step": _time(lambda: train_step(images)["loss"].numpy(), args)}


def _time(step, args):
    step()  # warm-up (and the trace for tf.function)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-step", action="store_true",
                        help="time VQ-GAN training steps (generator, generator + discriminator) instead")
    parser.add_argument("--batch", type=int, default=None, help="images per step (default 4, 1 with --train-step)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two subprocesses")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--worker", choices=["torch", "tf"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch is None:
        args.batch = 1 if args.train_step else 4
    if args.worker:
        workers = {"torch": (_torch_worker, _torch_train_worker), "tf": (_tf_worker, _tf_train_worker)}
        result = workers[args.worker][args.train_step](args)
        result["peak_rss_mb"] = max_rss_mib()  # VmHWM: a child's ru_maxrss also counts its parent's peak
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as folder:
        _make_checkpoint(folder)
        timings, peaks = {}, {}
        for _ in range(args.rounds):
            for worker in ("torch", "tf"):
                command = [sys.executable, __file__, "--worker", worker, "--folder", folder,
                           *(f"--{k}={getattr(args, k)}" for k in ("batch", "size", "threads", "repeats")),
                           *(["--train-step"] if args.train_step else [])]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                peaks[worker] = max(peaks.get(worker, 0), result.pop("peak_rss_mb"))
                for name, seconds in result.items():
                    timings.setdefault(name, []).extend(seconds)
    report = _train_report(args, timings, peaks) if args.train_step else _throughput_report(args, timings, peaks)
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


def _train_report(args, timings, peaks):
    """Seconds per step (medians), peak memory and `PyTorch / vqkeras` time ratios of the `--train-step` run."""
    median = {name: statistics.median(seconds) for name, seconds in timings.items()}
    return {
        "setup": vars(args),
        "seconds_per_step": median,
        "seconds": timings,
        "peak_rss_mb": peaks,
        "ratio_torch_to_tf": {step: median[f"torch_{step}"] / median[f"tf_{step}"]
                              for step in ("generator_step", "train_step")},
    }


def _throughput_report(args, timings, peaks):
    report = {
        "setup": vars(args),
        "images_per_second": {k: args.batch / statistics.median(v) for k, v in timings.items()},
        "seconds": timings,
        "peak_rss_mb": peaks,
    }
    report["ratio_tf_function_to_torch"] = (report["images_per_second"]["tf_function"]
                                           / report["images_per_second"]["torch"])
    report["ratio_tf_eager_to_torch"] = report["images_per_second"]["tf_eager"] / report["images_per_second"]["torch"]
    return report


if __name__ == "__main__":
    main()
