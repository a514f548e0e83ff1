"""Quality side by side: vqkeras vs the keras.io example architecture on Fashion-MNIST.

Usage (from the repository root):

    python benchmarks/quality.py                       # defaults: 10 min per model, 10 min per prior, 2000 samples
    python benchmarks/quality.py --minutes 3 --prior-minutes 2 --samples 500    # reduced budgets

1. Baseline: the keras.io "Vector-Quantized Variational Autoencoders" example architecture
   (`benchmarks/keras_io_baseline.py`), K=64, gradient codebook; its prior a `PixelCNNPrior`.
2. vqkeras `VQVAE` at the same 7×7 token grid (28×28 input, f=4) with K=64, and K=512.
3. Reconstruction: each model trains for the same wall-clock budget (`--minutes`); test-set PSNR, SSIM, codebook
   usage and perplexity (`vqkeras.metrics.evaluate_model`).
4. Generation: FID (EfficientNet-Lite0, 128×128 inputs) of `--samples` samples vs the 10,000 test images:
   baseline + PixelCNN vs vqkeras (K=64) + TransformerPrior, priors trained for `--prior-minutes` each. First both
   K=64 tokenizers train `--gan-minutes` more: ours continues as a VQGAN (`train_gan`: perceptual loss on MobileNetV2,
   not on the FID network, and a PatchGAN), the baseline with its own loss.
5. Usage at scale: K=8192 with l2-normalised 8-d codes vs the plain EMA layer (with and without dead-code
   restarts), test-set usage.

Writes JSON results (`--out`), the PSNR/usage curves (`--plot`) and its section of `docs/benchmarks.md` (`--output`;
`--section-from results.json` rewrites the section from an earlier run). Needs the Debian package
`dataset-fashion-mnist`; exits with code 2 and the install command if it is missing.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def check_data():
    needed = [f"{p}-{k}-ubyte.gz" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]
    missing = [n for n in needed if not os.path.isfile(os.path.join(FASHION_DIR, n))]
    if missing:
        print(
            f"Fashion-MNIST is missing ({', '.join(missing)} not in {FASHION_DIR}).\n"
            "Install it with:  sudo apt-get install -y dataset-fashion-mnist",
            file=sys.stderr,
        )
        sys.exit(2)


import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vqkeras  # noqa: E402
from vqkeras.metrics import EfficientNetLite0Features  # noqa: E402
from vqkeras.metrics import evaluate_model  # noqa: E402
from vqkeras.metrics import frechet_distance  # noqa: E402
from common import DOCS_PATH  # noqa: E402  (sibling script modules)
from common import fashion_images  # noqa: E402
from common import fid_against  # noqa: E402
from common import image_statistics  # noqa: E402
from common import matmul_gflops  # noqa: E402
from training_budget import TrainingBudget  # noqa: E402
from common import write_section  # noqa: E402
from keras_io_baseline import KerasIOVQVAE  # noqa: E402


# Our side's recipe, from the library (`vqkeras/presets/fashion.py` explains each setting).
RECIPE_NAME = "fashion_mnist_28"
RECIPE = vqkeras.presets.get_recipe(RECIPE_NAME)
# The recipe's tokenizer architecture (`VQVAE` arguments) and VQ-GAN phase (`VQGAN.from_vqvae` arguments).
TOKENIZER_KEYS = ("num_embeddings", "latent_dim", "base_channels", "channel_multipliers", "num_res_blocks",
                  "use_attention", "normalization", "upsample", "reconstruction_loss")
VQGAN_KEYS = ("perceptual_weight", "perceptual_backbone", "perceptual_image_size", "disc_weight", "disc_start",
              "disc_warmup", "disc_num_layers", "disc_filters", "code_entropy_weight", "code_entropy_temperature")
TOKENIZER = {"image_channels": RECIPE["channels"], **{key: RECIPE[key] for key in TOKENIZER_KEYS}}
RECONSTRUCTION_OPTIMIZER = RECIPE["reconstruction_optimizer"]["config"]
GAN_OPTIMIZER = RECIPE["optimizer"]["config"]
PRIOR_OPTIMIZER = RECIPE["prior_optimizer"]["config"]


def ours(num_embeddings, config, quantizer=None):
    """Our VQVAE with the tokenizer `config` (`ours_config(variant)`) at K = `num_embeddings`. A variant's
    `quantizer_options` are `VectorQuantizerEMA` arguments (a `quantizer` argument wins over them)."""
    config = dict(config)
    options = config.pop("quantizer_options", None)
    if quantizer is None and options:
        quantizer = vqkeras.layers.VectorQuantizerEMA(num_embeddings, config["latent_dim"], name="quantizer",
                                                      **options)
    return vqkeras.models.VQVAE(**{**config, "num_embeddings": num_embeddings, "quantizer": quantizer,
                                   "name": f"vqkeras_k{num_embeddings}"})


BASELINE_LEARNING_RATE = 1e-3  # Adam, the keras.io example's rate
# vqkeras configurations at the 7×7 grid (28×28, f = 4), as changes to the recipe's tokenizer, each with its Adam
# learning rate if not the recipe's (docs/experiments.md has the probes that chose them):
# - "shuffle" (the default): the recipe's own: no normalization, and the decoder upsamples by a convolution at the
#   lower resolution followed by depth to space, so the full-resolution level stays narrow;
# - "patch": "shuffle" with `patch_size=2` and one level fewer, so nothing runs at 28×28: the best PSNR, but a worse
#   generation tokenizer;
# - "fast_ema": "shuffle" with a faster codebook EMA (decay 0.9); "plain": "shuffle" with nearest-neighbour upsampling;
#   "narrow": "plain" with GroupNorm; "wide": the first configuration.
OURS_VARIANTS = {
    "patch": dict(channel_multipliers=(4, 4), patch_size=2),
    "fast_ema": dict(quantizer_options=dict(decay=0.9)),
    "shuffle": {},
    "plain": dict(upsample="nearest"),
    "narrow": dict(normalization="group", upsample="nearest"),
    "wide": dict(base_channels=16, channel_multipliers=(1, 2, 2), num_res_blocks=1, normalization="group",
                 upsample="nearest"),
}
OURS_LEARNING_RATES = {"narrow": 1e-3, "wide": 1e-3}
# Adam's β₂ for every autoencoder, the baseline's included. Batch 32 gives our models more steps in the budget and
# leaves the baseline where it was.
ADAM_BETA_2 = RECONSTRUCTION_OPTIMIZER["beta_2"]
DEFAULT_BATCH_SIZE = RECIPE["batch_size"]
# AdamW, both priors (the baseline's too): in a 10-minute budget both are step-limited, so a smaller batch and a
# higher rate win. Both train with XLA (Keras leaves it off on CPU-only machines), so each side gets more steps.
PRIOR_LEARNING_RATE = PRIOR_OPTIMIZER["learning_rate"]
PRIOR_WEIGHT_DECAY = PRIOR_OPTIMIZER["weight_decay"]
PRIOR_BATCH_SIZE = RECIPE["prior_batch_size"]
PRIOR_JIT_COMPILE = RECIPE["prior_jit_compile"]


def ours_config(variant):
    """The tokenizer configuration of `variant` (an `OURS_VARIANTS` key): the recipe's, changed by the variant."""
    return {**TOKENIZER, **OURS_VARIANTS[variant]}


# Usage at scale: K = 8192 quantizers for codes of `latent_dim` (dead-code restarts are on by default, threshold 0.1).
SCALE_VARIANTS = {
    "ema_k8192_l2_dim8": lambda latent_dim: vqkeras.layers.VectorQuantizerEMA(
        8192, latent_dim, codebook_dim=8, l2_normalize=True, name="quantizer"),
    "ema_k8192_plain": lambda latent_dim: vqkeras.layers.VectorQuantizerEMA(8192, latent_dim, name="quantizer"),
    "ema_k8192_no_restarts": lambda latent_dim: vqkeras.layers.VectorQuantizerEMA(
        8192, latent_dim, dead_code_threshold=0.0, name="quantizer"),
}
DEFAULTS = {"ours": "shuffle", "phases": "reconstruction,scale,generation",
            "models": "baseline_k64,vqkeras_k64,vqkeras_k512", "scale_variants": ",".join(SCALE_VARIANTS)}
RECONSTRUCTION_MODELS = {  # each takes our preset config
    "baseline_k64": lambda config: KerasIOVQVAE(num_embeddings=64, name="keras_io_k64"),
    "vqkeras_k64": lambda config: ours(64, config),
    "vqkeras_k512": lambda config: ours(512, config),
}


def pixelcnn_prior(**overrides):
    """The baseline's prior over the 7×7 grid of K = 64 codes (`overrides`: other `PixelCNNPrior` arguments)."""
    options = dict(embed_dim=64, num_layers=6, kernel_size=5, name="pixelcnn")
    return vqkeras.priors.PixelCNNPrior(64, (7, 7), **{**options, **overrides})


def transformer_prior(**overrides):
    """Our prior over the 7×7 grid of K = 64 codes: the recipe's (`overrides`: other `TransformerPrior` arguments)."""
    options = dict(RECIPE["prior_kwargs"])
    return vqkeras.priors.TransformerPrior(64, (7, 7), **{**options, "name": "transformer", **overrides})


def train(model, train_ds, minutes, lr, probe=None, every=30.0, anneal=0.0, jit_compile=False,
          beta_2=0.999, **compile_kwargs):
    compile_kwargs.setdefault("optimizer", keras.optimizers.Adam(lr, beta_2=beta_2))
    model.compile(jit_compile=jit_compile, **compile_kwargs)
    budget = TrainingBudget(minutes, probe, every, anneal=anneal)
    # One endless iterator: `fit` over the finite dataset stalled at every epoch boundary on this machine (5–10 s for
    # the baseline at batch 256, up to a minute for ours), time the wall clock counts.
    model.fit(train_ds.repeat(), epochs=10_000, steps_per_epoch=500, callbacks=[budget], verbose=0)
    print(f"  {model.name}: {budget.steps} steps in {budget.trained_seconds():.0f} s", flush=True)
    return budget


# The VQGAN phase of our generation tokenizer (the recipe's `vqgan`): the L2 loss of the first phase, the perceptual
# loss on MobileNetV2, a small PatchGAN loss and the code-entropy term.
GAN_SETTINGS = {key: RECIPE[key] for key in VQGAN_KEYS if key != "perceptual_image_size"}
# The perceptual loss sees the 28×28 images resized to this side (`--perceptual-image-size`; 0: native): at 28×28
# MobileNetV2's deep taps are 1×1 to 4×4 maps; at 112 the backbone's cost leaves too few steps.
PERCEPTUAL_IMAGE_SIZE = RECIPE["perceptual_image_size"]
# Adam(β₁ = 0.5), both players.
GAN_LEARNING_RATE = GAN_OPTIMIZER["learning_rate"]
GAN_BETA_1 = GAN_OPTIMIZER["beta_1"]
DEFAULT_ANNEAL = RECIPE["anneal"]


def train_gan(model, train_ds, minutes, lr=GAN_LEARNING_RATE, probe=None, anneal=0.0,
              perceptual_image_size=PERCEPTUAL_IMAGE_SIZE):
    """Continues `model`, a trained vqkeras `VQVAE`, as a VQGAN (`VQGAN.from_vqvae` with `GAN_SETTINGS`, the
    perceptual loss at `perceptual_image_size`, 0 for native) for `minutes`; returns the VQGAN and its
    `TrainingBudget`."""
    settings = {"perceptual_image_size": perceptual_image_size or None, **GAN_SETTINGS}
    gan = vqkeras.models.VQGAN.from_vqvae(model, name=f"{model.name}_gan", **settings)
    budget = train(gan, train_ds, minutes, lr, probe=probe, anneal=anneal,
                   optimizer=keras.optimizers.Adam(lr, beta_1=GAN_BETA_1),
                   discriminator_optimizer=keras.optimizers.Adam(lr, beta_1=GAN_BETA_1))
    return gan, budget


class TimedSnapshots(keras.callbacks.Callback):
    """`prior.snapshot()` at each fraction of `budget`'s wall-clock time (the guides of guided sampling);
    `guides[f]` is the copy taken at fraction `f`, `steps[f]` the steps done then."""

    def __init__(self, budget, fractions):
        super().__init__()
        self.budget, self.pending = budget, sorted(fractions)
        self.guides, self.steps = {}, {}

    def on_train_batch_end(self, batch, logs=None):
        while self.pending and self.budget.trained_seconds() >= self.pending[0] * self.budget.budget:
            fraction = self.pending.pop(0)
            self.guides[fraction] = self.model.snapshot(name=f"{self.model.name}_at_{fraction:g}".replace(".", "p"))
            self.steps[fraction] = self.budget.steps


def learning_rate(key, preset):
    """The reconstruction phase's Adam rate of `RECONSTRUCTION_MODELS[key]` (our models at the `preset`'s rate)."""
    if key.startswith("baseline"):
        return BASELINE_LEARNING_RATE
    return OURS_LEARNING_RATES.get(preset, RECONSTRUCTION_OPTIMIZER["learning_rate"])


def train_images(batch_size=DEFAULT_BATCH_SIZE, seed=0):
    """The 60,000 Fashion-MNIST training images as the autoencoders train on them: shuffled, batched, full batches."""
    return vqkeras.data.load_images("fashion_mnist", 28, split="train", batch_size=batch_size, seed=seed,
                                    drop_remainder=True)


def fit_prior(prior, tokens, minutes, lr=PRIOR_LEARNING_RATE, batch_size=PRIOR_BATCH_SIZE, seed=0, anneal=0.0,
              snapshots=(), jit_compile=PRIOR_JIT_COMPILE):
    """Trains `prior` on `tokens` for `minutes` (AdamW); with `snapshots` (fractions of the budget), also returns
    the copies taken then as `"guides"` (see `TimedSnapshots`). `jit_compile`: the training step with XLA."""
    prior.compile(optimizer=keras.optimizers.AdamW(lr, weight_decay=PRIOR_WEIGHT_DECAY), jit_compile=jit_compile)
    budget = TrainingBudget(minutes, anneal=anneal)
    # The budget callback runs first, so a snapshot sees the step count it has just updated.
    timed = TimedSnapshots(budget, snapshots)
    stream = tf.data.Dataset.from_tensor_slices(tokens)
    stream = stream.shuffle(len(tokens), seed=seed).repeat()
    history = prior.fit(stream.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE), epochs=10_000,
                        steps_per_epoch=200, callbacks=[budget, timed], verbose=0)
    loss = float(history.history["loss"][-1])
    print(f"  {prior.name}: {budget.steps} steps, last-epoch loss {loss:.3f}", flush=True)
    return {"steps": budget.steps, "loss": loss, "guides": timed.guides, "guide_steps": timed.steps}


def in_chunks(fn, images, chunk=500):
    """`fn` over `images` in eager chunks, concatenated as a NumPy array. (An earlier tf.function version "returned
    None" once: autograph re-reads source files when it traces, and the library files had been edited while that run
    was going. Run benchmarks from a frozen copy.)"""
    return np.concatenate([np.asarray(fn(images[i:i + chunk])) for i in range(0, len(images), chunk)])


def encode_all(model, images):
    return in_chunks(model.encode, images)


def reconstruct(model, images):
    return in_chunks(lambda x: np.clip(model(x), -1, 1), images)


# Sampling settings tried for each prior (the same grid for both); the reported FID is that of the setting with the
# lowest FID against `SELECTION_IMAGES` training images.
SAMPLING_GRIDS = {
    "plain": [dict(temperature=1.0)],
    "sweep": [dict(temperature=1.0), dict(temperature=1.0, top_k=32), dict(temperature=0.9),
              dict(temperature=0.9, top_k=32), dict(temperature=0.8)],
}
SELECTION_IMAGES = 10000
# Guided sampling: each prior's copies of itself at these fractions of its budget guide it, `(1 + w) log p − w log q`
# (`BasePrior.sample(guide=...)`), at each scale w, without top-k. Early, weak copies at moderate w guide best; larger
# w overshoots.
# The sweep of guided sampling: copies of each prior at these fractions of its budget (the recipe keeps its
# `guide_fraction`), at these scales.
GUIDE_SNAPSHOTS = f"0.05,{RECIPE['guide_fraction']:g}"
GUIDANCE_SCALES = "0.25,0.35,0.5,0.75"


def floats(text):
    """The numbers of a comma-separated list (empty items skipped)."""
    return [float(v) for v in text.split(",") if v]


def guided_grid(fractions, scales, top_ks=(None,)):
    """Guided sampling settings: each snapshot fraction × guidance scale × top-k (see `sampling_sweep`)."""
    return [dict(top_k=k, guide=f, guidance_scale=w) for f in fractions for w in scales for k in top_ks]


def sampling_sweep(model, prior, n, seed, grid, extractor, test_stats, selection_stats, guides=None):
    """For each settings dict of `grid`: `n` samples, their FID against the selection (training-image) statistics and
    against the test statistics, and the sampling time. A setting's `"guide"` is a key of `guides` (the snapshot
    fraction of `fit_prior`), replaced by that snapshot for `prior.sample(guide=...)`."""
    rows = []
    for settings in grid:
        kwargs = {k: v for k, v in settings.items() if v is not None}
        if "guide" in kwargs:
            kwargs["guide"] = guides[kwargs["guide"]]
        t0 = time.perf_counter()
        samples = sample_images(model, prior, n, seed=seed, **kwargs)
        seconds = time.perf_counter() - t0
        sample_stats = image_statistics(samples, extractor)  # one feature pass, two distances
        rows.append(dict(settings=settings, sample_seconds=seconds,
                         selection_fid=frechet_distance(*sample_stats, *selection_stats),
                         fid=frechet_distance(*sample_stats, *test_stats)))
        print(f"    {prior.name} {settings}: selection FID {rows[-1]['selection_fid']:.1f}, "
              f"test FID {rows[-1]['fid']:.1f}", flush=True)
    return rows


def sample_tokens(prior, n, seed, chunk=250, **sample_kwargs):
    """`n` token grids from `prior.sample` in chunks of `chunk`, chunk `i` seeded `seed + i`."""
    out = []
    for i in range(0, n, chunk):
        out.append(prior.sample(min(chunk, n - i), seed=seed + i, **sample_kwargs).numpy())
    return np.concatenate(out)


def decode_all(model, tokens, chunk=250):
    """Images decoded by `model` from int token grids, clipped to [-1, 1]."""
    return in_chunks(lambda t: np.clip(model.decode(t), -1, 1), tokens, chunk)


def sample_images(model, prior, n, seed, chunk=250, **sample_kwargs):
    """`n` images decoded by `model` from `sample_tokens`."""
    return decode_all(model, sample_tokens(prior, n, seed, chunk, **sample_kwargs), chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per autoencoder (minutes)")
    parser.add_argument("--prior-minutes", type=float, default=10.0, help="training budget per prior (minutes)")
    parser.add_argument("--scale-minutes", type=float, default=None,
                        help="budget of each K=8192 model (defaults to --minutes)")
    parser.add_argument("--samples", type=int, default=2000, help="generated images per model for FID")
    parser.add_argument("--gan-minutes", type=float, default=10.0,
                        help="generation tokenizers: further training of each K=64 model, ours as a VQGAN "
                             "(`train_gan`), the baseline with its own loss; 0 uses the reconstruction-phase models")
    parser.add_argument("--anneal", type=float, default=DEFAULT_ANNEAL,
                        help="every model, priors included: the learning rate falls linearly to 0 over this last "
                             "fraction of its budget (0: constant)")
    parser.add_argument("--sampling", default="sweep", choices=sorted(SAMPLING_GRIDS),
                        help="'sweep': each prior samples with every setting of SAMPLING_GRIDS['sweep'] and reports "
                             "the one with the lowest FID against 10,000 training images; 'plain': temperature 1")
    parser.add_argument("--guide-snapshots", default=GUIDE_SNAPSHOTS,
                        help="each prior keeps copies of itself at these fractions of its budget (comma-separated) "
                             "as guides of guided sampling, whose settings (each copy × --guidance-scales) join the "
                             f"sweep; '' or 0: no guidance. Default: {GUIDE_SNAPSHOTS}")
    parser.add_argument("--guidance-scales", default=GUIDANCE_SCALES,
                        help=f"guidance scales w of the sweep, comma-separated (default: {GUIDANCE_SCALES})")
    parser.add_argument("--save-dir", default=None, help="saves the generation tokenizers and priors here (.keras)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"batch size of every autoencoder (default: {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--lr", type=float, default=None,
                        help="Adam learning rate of every autoencoder (default: the baseline's and the preset's own)")
    parser.add_argument("--beta-2", type=float, default=ADAM_BETA_2,
                        help=f"Adam beta_2 of every autoencoder (default: {ADAM_BETA_2:g})")
    parser.add_argument("--perceptual-image-size", type=int, default=PERCEPTUAL_IMAGE_SIZE,
                        help="side the VQGAN phase's perceptual loss resizes images to (0: native 28; default: "
                             f"{PERCEPTUAL_IMAGE_SIZE})")
    parser.add_argument("--prior-images", type=int, default=60000, help="training images encoded for the priors")
    parser.add_argument("--fid-image-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/quality_results.json")
    parser.add_argument("--plot", default="docs/quality_curves.png")
    parser.add_argument("--output", default=DOCS_PATH, help="Markdown file whose section is rewritten")
    parser.add_argument("--section-from", default=None, metavar="JSON",
                        help="only rewrite the docs section from the results file of an earlier run, then exit")
    parser.add_argument("--ours", default=DEFAULTS["ours"], choices=sorted(OURS_VARIANTS),
                        help=f"vqkeras configuration: the recipe {RECIPE_NAME!r} ('shuffle') or a variant of it "
                             "(see OURS_VARIANTS)")
    parser.add_argument("--phases", default=DEFAULTS["phases"],
                        help="comma-separated subset of reconstruction, scale, generation (generation needs the "
                             "K=64 models of the reconstruction phase)")
    parser.add_argument("--scale-variants", default=DEFAULTS["scale_variants"],
                        help=f"K=8192 quantizers of the scale phase, comma-separated, from {', '.join(SCALE_VARIANTS)}")
    parser.add_argument("--models", default=DEFAULTS["models"],
                        help="reconstruction-phase models, comma-separated")
    args = parser.parse_args()
    if args.section_from:
        with open(args.section_from) as f:
            write_section(args.output, markdown(json.load(f), args.plot), HEADING)
        return
    phases = set(args.phases.split(","))
    unknown = phases - {"reconstruction", "scale", "generation"}
    if unknown:
        parser.error(f"--phases: unknown phase(s) {sorted(unknown)}")
    if "generation" in phases and "reconstruction" not in phases:
        parser.error("--phases: generation needs the reconstruction phase")
    try:
        snapshots = [f for f in floats(args.guide_snapshots) if f]
        scales = floats(args.guidance_scales)
    except ValueError:
        parser.error(f"--guide-snapshots and --guidance-scales must be comma-separated numbers. Received: "
                     f"{args.guide_snapshots!r}, {args.guidance_scales!r}")
    if any(not 0 < f < 1 for f in snapshots) or any(w < 0 for w in scales):
        parser.error(f"--guide-snapshots must be in (0, 1) and --guidance-scales ≥ 0. Received: "
                     f"{args.guide_snapshots!r}, {args.guidance_scales!r}")
    if snapshots and args.sampling != "sweep":
        parser.error("--guide-snapshots needs --sampling sweep (or --guide-snapshots 0)")
    if set(args.scale_variants.split(",")) - set(SCALE_VARIANTS):
        parser.error(f"--scale-variants must be a subset of {sorted(SCALE_VARIANTS)}. Received: {args.scale_variants}")
    chosen = args.models.split(",")
    if set(chosen) - set(RECONSTRUCTION_MODELS) or (
        "generation" in phases and not {"baseline_k64", "vqkeras_k64"} <= set(chosen)
    ):
        parser.error(f"--models must be a subset of {sorted(RECONSTRUCTION_MODELS)} (with both K=64 models for "
                     f"generation). Received: {args.models}")
    check_data()
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)
    config = ours_config(args.ours)
    learning_rates = {key: args.lr or learning_rate(key, args.ours) for key in RECONSTRUCTION_MODELS}
    scale_minutes = args.minutes if args.scale_minutes is None else args.scale_minutes
    keras.utils.set_random_seed(args.seed)
    started = datetime.datetime.now()

    train_ds = train_images(args.batch_size, args.seed)
    test_x = fashion_images("test")
    test_ds = tf.data.Dataset.from_tensor_slices(test_x).batch(500)
    probe = test_x[:1000]
    results = {"args": vars(args), "date": started.isoformat(timespec="minutes"), "ours_config": config,
               "learning_rates": learning_rates,
               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, TF {tf.__version__}, "
                          f"Keras {keras.__version__}", "matmul_gflops": matmul_gflops()}
    print(f"Machine: 2048×2048 float32 matmul at {results['matmul_gflops']:.1f} GFLOP/s", flush=True)

    # ------------------------------------------------------------------ reconstruction
    models, recon, curves = {key: RECONSTRUCTION_MODELS[key](config) for key in chosen}, {}, {}
    if "reconstruction" in phases:
        print("== Reconstruction", flush=True)
        for key, model in models.items():
            budget = train(model, train_ds, args.minutes, learning_rates[key], probe=probe, anneal=args.anneal,
                           beta_2=args.beta_2)
            curves[key] = budget.curve
            recon[key] = {**evaluate_model(model, test_ds, verbose=0), "steps": budget.steps,
                          "params": int(model.count_params())}
            print(f"  {key}: {recon[key]}", flush=True)
        results["reconstruction"], results["curves"] = recon, curves
        save(results, args.out)
        plot(curves, args.plot)

    # ------------------------------------------------------------------ usage at scale
    if "scale" in phases:
        print("== Usage at K=8192", flush=True)
        scale = {}
        for key in args.scale_variants.split(","):
            model = ours(8192, config, quantizer=SCALE_VARIANTS[key](config["latent_dim"]))
            budget = train(model, train_ds, scale_minutes, learning_rates["vqkeras_k64"], anneal=args.anneal,
                           beta_2=args.beta_2)
            scale[key] = {**evaluate_model(model, test_ds, verbose=0), "steps": budget.steps}
            print(f"  {key}: {scale[key]}", flush=True)
        results["usage_at_scale"] = scale
        save(results, args.out)

    # ------------------------------------------------------------------ generation
    if "generation" in phases:
        print("== Generation", flush=True)
        train_x = fashion_images(f"train[:{args.prior_images}]")
        extractor = EfficientNetLite0Features(image_size=args.fid_image_size)
        test_stats = image_statistics(test_x, extractor)
        # Sampling settings are chosen against training images, never against the test set that reports the FID.
        selection_stats = image_statistics(train_x[-SELECTION_IMAGES:], extractor)
        generation = {}
        baseline, tokenizer, tokenizers = models["baseline_k64"], models["vqkeras_k64"], {}
        if args.gan_minutes > 0:  # the same further budget for both tokenizers
            print(f"  further {args.gan_minutes:g} minutes per tokenizer", flush=True)
            tokenizer, budget = train_gan(tokenizer, train_ds, args.gan_minutes, probe=probe, anneal=args.anneal,
                                          perceptual_image_size=args.perceptual_image_size)
            tokenizers["vqkeras_k64 as VQGAN"] = dict(steps=budget.steps, curve=budget.curve)
            budget = train(baseline, train_ds, args.gan_minutes, learning_rates["baseline_k64"], probe=probe,
                           anneal=args.anneal, beta_2=args.beta_2)
            tokenizers["baseline_k64"] = dict(steps=budget.steps, curve=budget.curve)
            for key, model in (("baseline_k64", baseline), ("vqkeras_k64 as VQGAN", tokenizer)):
                tokenizers[key].update(evaluate_model(model, test_ds, verbose=0))
                print(f"  {key}: {tokenizers[key]}", flush=True)
        results["generation_tokenizers"] = tokenizers
        if args.save_dir:
            for model in (baseline, tokenizer):
                model.save(os.path.join(args.save_dir, f"{model.name}_generation.keras"))
        setups = {
            "baseline_k64 + PixelCNNPrior": (baseline, pixelcnn_prior()),
            "vqkeras_k64 + TransformerPrior": (tokenizer, transformer_prior()),
        }
        grid = SAMPLING_GRIDS[args.sampling] + guided_grid(snapshots, scales)
        for key, (model, prior) in setups.items():
            tokens = encode_all(model, train_x)
            prior_info = fit_prior(prior, tokens, args.prior_minutes, anneal=args.anneal, snapshots=snapshots)
            guides = prior_info.pop("guides")
            if args.save_dir:
                prior.save(os.path.join(args.save_dir, f"{prior.name}.keras"))
                for guide in guides.values():
                    guide.save(os.path.join(args.save_dir, f"{guide.name}.keras"))
            sweep = sampling_sweep(model, prior, args.samples, args.seed, grid, extractor, test_stats, selection_stats,
                                   guides=guides)
            best = min(sweep, key=lambda row: row["selection_fid"])
            unguided = min((row for row in sweep if "guide" not in row["settings"]), key=lambda r: r["selection_fid"])
            generation[key] = {
                "fid": best["fid"], "sampling": best["settings"], "sweep": sweep,
                "unguided_fid": unguided["fid"], "unguided_sampling": unguided["settings"],
                "reconstruction_fid": fid_against(reconstruct(model, test_x[:args.samples]), extractor, test_stats),
                "prior_steps": prior_info["steps"], "prior_loss": prior_info["loss"],
                "guide_steps": prior_info["guide_steps"],
                "prior_params": int(prior.count_params()), "sample_seconds": best["sample_seconds"],
            }
            print(f"  {key}: {generation[key]}", flush=True)
        # Reference: the same number of real training images vs the test set (the floor for this N).
        generation["real train images (floor)"] = {"fid": fid_against(train_x[:args.samples], extractor, test_stats)}
        results["generation"] = generation
    results["minutes_total"] = (datetime.datetime.now() - started).total_seconds() / 60

    save(results, args.out)
    print(markdown(results, args.plot))
    write_section(args.output, markdown(results, args.plot), HEADING)


def save(results, path):
    """Writes the results so far (each phase saves, so a later failure keeps the earlier figures)."""
    with open(path, "w") as f:
        json.dump(results, f, indent=1, default=float)


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = {"baseline_k64": "keras.io example architecture, K=64", "vqkeras_k64": "vqkeras VQVAE, K=64",
              "vqkeras_k512": "vqkeras VQVAE, K=512"}
    for key, curve in curves.items():
        t = [c["seconds"] / 60 for c in curve]
        axes[0].plot(t, [c["psnr"] for c in curve], label=labels.get(key, key))
        axes[1].plot(t, [100 * c["usage"] for c in curve], label=labels.get(key, key))
    axes[0].set(xlabel="training time (min, CPU)", ylabel="PSNR (dB)", title="PSNR on 1,000 test images")
    axes[1].set(xlabel="training time (min, CPU)", ylabel="codebook usage (%)",
                title="Codes used on 1,000 test images")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


HEADING = "## Quality vs the keras.io example"
NAMES = {"baseline_k64": "keras.io example architecture, K=64", "vqkeras_k64": "vqkeras VQVAE, K=64",
         "vqkeras_k512": "vqkeras VQVAE, K=512", "ema_k8192_l2_dim8": "vqkeras, K=8192, EMA + l2 + codebook_dim=8",
         "ema_k8192_plain": "vqkeras, K=8192, plain EMA (with dead-code restarts)",
         "ema_k8192_no_restarts": "vqkeras, K=8192, plain EMA, no dead-code restarts"}


def settings_text(settings):
    """`{"guide": 0.1, "guidance_scale": 0.35}` as "guided by the copy at 10%, w = 0.35"."""
    parts = [f"temperature {settings['temperature']:g}"] if "temperature" in settings else []
    if settings.get("top_k"):
        parts.append(f"top-k {settings['top_k']}")
    if settings.get("guide") is not None:
        parts.append(f"guided by the copy at {100 * settings['guide']:g}%, w = {settings['guidance_scale']:g}")
    return ", ".join(parts) or "temperature 1"


def markdown(r, plot=None):
    """The results `r` as the section `HEADING` of docs/benchmarks.md (`plot`: the curves' file, cited)."""
    a = r["args"]
    flags = "".join(f" --{k.replace('_', '-')} {a[k]}" for k in DEFAULTS if a.get(k) and a[k] != DEFAULTS[k])
    flags += "".join(f" --{k.replace('_', '-')} {a[k]:g}" for k, default in
                     (("minutes", 10), ("prior_minutes", 10), ("gan_minutes", 10), ("samples", 2000))
                     if a.get(k) is not None and a[k] != default)
    flags += f" --seed {a['seed']}" if a.get("seed") else ""
    rec, gen, sc = r.get("reconstruction", {}), r.get("generation", {}), r.get("usage_at_scale", {})
    lines = [HEADING, "", f"Command: `python benchmarks/quality.py{flags}`. Date: {r['date'][:10]}. Machine: "
             f"{r['machine']}, no GPU; 2048×2048 float32 matmul at {r.get('matmul_gflops', float('nan')):.0f} "
             f"GFLOP/s. Run time {r.get('minutes_total', float('nan')):.0f} minutes.", "",
             "Fashion-MNIST (Debian's `dataset-fashion-mnist`), 28×28, 7×7 token grids. Every model trains for a "
             "wall-clock budget (the clock starts after the tracing step); every learning rate falls to 0 over the "
             f"last {a.get('anneal', DEFAULT_ANNEAL):g} of its budget. Ours: the \"{a.get('ours', 'shuffle')}\" "
             "configuration, then a VQGAN phase (`GAN_SETTINGS`), then a `TransformerPrior`; the baseline: the keras.io "
             "example architecture (`keras_io_baseline.py`), its own loss for the same further minutes, then a "
             "`PixelCNNPrior`. Reconstruction figures are on the 10,000 test images"
             + (f"; PSNR and usage curves during training: `{plot}`." if plot else "."), "",
             "| Model | Params | Steps | Test PSNR (dB) | Test SSIM | Usage | Perplexity |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for key, v in {**rec, **sc}.items():
        lines.append(f"| {NAMES[key]} | {v.get('params', 0):,} | {v['steps']:,} | {v['psnr']:.2f} | {v['ssim']:.3f} | "
                     f"{100 * v['usage']:.1f}% | {v['perplexity']:.1f} |")
    tokenizers = r.get("generation_tokenizers", {})
    if tokenizers:
        lines += ["", f"Generation tokenizers after {a['gan_minutes']:g} further minutes each:", "",
                  "| Tokenizer | Further steps | Test PSNR (dB) | Test SSIM | Usage | Perplexity |",
                  "|---|---:|---:|---:|---:|---:|"]
        for key, v in tokenizers.items():
            lines.append(f"| {key} | {v['steps']:,} | {v['psnr']:.2f} | {v['ssim']:.3f} | {100 * v['usage']:.1f}% | "
                         f"{v['perplexity']:.1f} |")
    setups = [key for key, v in gen.items() if v.get("sweep")]
    if setups:
        lines += ["", f"Generation: FID (EfficientNet-Lite0 features at {a.get('fid_image_size', 128)}×"
                  f"{a.get('fid_image_size', 128)}; not comparable to Inception FID) of {a['samples']:,} samples "
                  "against the 10,000 test images. Each prior reports the sampling setting with the lowest FID "
                  f"against {SELECTION_IMAGES:,} training images; the test set never chooses.", "",
                  "| Setup | Sample FID | Chosen setting | Best unguided | FID of reconstructions | Prior steps | "
                  "Prior loss (nats/token) |", "|---|---:|---|---:|---:|---:|---:|"]
        for key in setups:
            v = gen[key]
            lines.append(f"| {key} | **{v['fid']:.1f}** | {settings_text(v['sampling'])} | {v['unguided_fid']:.1f} | "
                         f"{v['reconstruction_fid']:.1f} | {v['prior_steps']:,} | {v['prior_loss']:.3f} |")
        if "real train images (floor)" in gen:
            lines.append(f"| {a['samples']:,} real training images (the floor) | {gen['real train images (floor)']['fid']:.1f}"
                         " | | | | | |")
        if len(setups) == 2:
            base, ours_ = (gen[key] for key in setups)
            lines += ["", f"Sample FID, ours ÷ the baseline's: **{ours_['fid'] / base['fid']:.3f}×** (unguided "
                      f"{ours_['unguided_fid'] / base['unguided_fid']:.3f}×)."]
        lines += ["", "The sampling sweep (selection FID / test FID):", "",
                  "| Setting | " + " | ".join(setups) + " |", "|---|" + "---:|" * len(setups)]
        for i, row in enumerate(gen[setups[0]]["sweep"]):
            cells = [f"{gen[key]['sweep'][i]['selection_fid']:.1f} / {gen[key]['sweep'][i]['fid']:.1f}"
                     for key in setups]
            lines.append(f"| {settings_text(row['settings'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

if __name__ == "__main__":
    main()
