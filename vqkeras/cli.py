"""The `vqkeras` command line: train, sample, restore, export and evaluate VQ models.

Every subcommand documents its flags in `vqkeras <subcommand> --help`. Errors print one line and exit with code 2.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "saved_models"


class CommandError(Exception):
    """A user-facing error: printed on one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"vqkeras: error: {message} (see `{self.prog} --help`)\n")


def _ints(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,2,2. Received: {text!r}")


def _box(text):
    values = _ints(text)
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h. Received: {text!r}")
    return values


# ----------------------------------------------------------------------------- helpers
def _load(path):
    """Loads a `.keras` model with safe_mode on, after checking the file."""
    import keras

    import vqkeras  # noqa: F401  (registers the classes)

    path = Path(path)
    if not path.exists():
        raise CommandError(f"model file not found: {path}")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as error:  # a corrupted or foreign file: say so in one line
        raise CommandError(f"could not load {path} as a vqkeras .keras model: {type(error).__name__}: {error}")


def _require(model, attribute, what, path):
    if not hasattr(model, attribute):
        raise CommandError(f"{path} holds a {type(model).__name__}, not {what}")
    return model


def _read_image(path, channels, size=None):
    """One image file as float32 (H, W, C) in [-1, 1], optionally resized to `size` (h, w)."""
    import numpy as np
    from PIL import Image
    from PIL import UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise CommandError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None:
                image = image.resize((size[1], size[0]), Image.BICUBIC)
            array = np.asarray(image, np.float32)
    except (UnidentifiedImageError, OSError) as error:
        raise CommandError(f"cannot read image {path}: {error}")
    array = array[..., None] if array.ndim == 2 else array
    return array / 127.5 - 1.0


def _save_grid(path, rows):
    """Saves rows of [-1, 1] images as one PNG grid and returns the path."""
    import keras
    import numpy as np

    from vqkeras.utils import from_model_range

    grid = np.concatenate([np.concatenate(list(np.asarray(row)), axis=1) for row in rows], axis=0)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    keras.utils.save_img(str(path), np.asarray(from_model_range(grid)), scale=True)
    return path


def _chunks(total, size):
    start = 0
    while start < total:
        yield start, min(size, total - start)
        start += size


def _generate_with_progress(generator, num_images, chunk=8, **kwargs):
    """Generates in chunks with a progress bar; chunk `i` uses seed `seed + i`, so results are reproducible."""
    import keras
    import numpy as np

    seed = kwargs.pop("seed", None)
    bar = keras.utils.Progbar(num_images, unit_name="image")
    images = []
    for i, (_, n) in enumerate(_chunks(num_images, chunk)):
        images.append(np.asarray(generator.generate(n, seed=None if seed is None else seed + i, **kwargs)))
        bar.add(n)
    return np.concatenate(images)


def _rows(images, per_row=8):
    """Splits images into rows of `per_row`, padding the last row with black images."""
    import numpy as np

    pad = (-len(images)) % per_row if len(images) > per_row else 0
    images = np.concatenate([images, np.full((pad, *images.shape[1:]), -1.0, np.float32)])
    return [images[i : i + per_row] for i in range(0, len(images), per_row)]


def _dataset(args, channels=None):
    from vqkeras.data import load_images

    return load_images(
        args.data, args.image_size, channels=channels or args.channels, batch_size=args.batch_size,
        split=args.split, seed=args.seed, shuffle=True, augment=getattr(args, "augment", False),
    )


def _training_callbacks(args, model, sample_images):
    import keras

    from vqkeras.callbacks import ImageLogger

    callbacks = [keras.callbacks.ModelCheckpoint(str(args.out))]
    if args.backup_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(args.backup_dir))
    if args.tensorboard:
        callbacks += [keras.callbacks.TensorBoard(args.tensorboard), ImageLogger(args.tensorboard, sample_images)]
    return callbacks


# `vqkeras train` flags that a --preset run takes; every other flag must keep its default there.
_PRESET_FLAGS = {"command", "func", "parser", "model", "preset", "out", "backup_dir"}


def _train_preset(args):
    """`vqkeras train --preset NAME`: the recipe's whole `train_vqgan` run, saved as an inference generator."""
    from vqkeras.presets import get_preset

    try:
        get_preset(args.preset, kind="recipe")
    except ValueError as error:
        raise CommandError(str(error))
    changed = sorted(f"--{dest.replace('_', '-')}" for dest, value in vars(args).items()
                     if dest not in _PRESET_FLAGS and value != args.parser.get_default(dest))
    if changed:
        raise CommandError(f"--preset sets the training arguments; these flags can't be combined with it: "
                           f"{', '.join(changed)} (train_vqgan(preset=..., **overrides) can override them)")
    if args.model not in (None, "vqgan"):
        raise CommandError(f"a recipe preset trains a vqgan. Received: model={args.model}")
    from vqkeras.generator import train_vqgan

    generator = train_vqgan(preset=args.preset, backup_dir=args.backup_dir)
    generator.to_inference().save(args.out)
    print(f"saved {args.out}")


# ----------------------------------------------------------------------------- commands
def cmd_train(args):
    import keras

    from vqkeras.models import VQGAN
    from vqkeras.models import VQVAE

    if not str(args.out).endswith(".keras"):
        raise CommandError(f"--out must end in .keras. Received: {args.out}")
    if args.preset:
        return _train_preset(args)
    if args.model is None or args.data is None:
        raise CommandError("train needs a model (vqvae or vqgan) and --data, unless --preset names a recipe")
    data = _dataset(args)
    sample = next(iter(data))
    config = dict(
        image_channels=int(sample.shape[-1]), num_embeddings=args.num_embeddings, latent_dim=args.latent_dim,
        base_channels=args.base_channels, channel_multipliers=args.channel_multipliers,
        num_res_blocks=args.num_res_blocks, use_attention=not args.no_attention,
        normalization=args.normalization, upsample=args.upsample, patch_size=args.patch_size,
        quantizer=args.quantizer, gradient_estimator=args.gradient_estimator,
    )
    if args.model == "vqgan":
        model = VQGAN(disc_start=args.disc_start, perceptual_weight=args.perceptual_weight,
                      perceptual_image_size=args.perceptual_image_size, **config)
        optimizers = dict(
            optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=0.5),
            discriminator_optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=0.5),
        )
    else:
        model = VQVAE(**config)
        optimizers = dict(optimizer=keras.optimizers.Adam(args.learning_rate))
    model.build(tuple(sample.shape))
    model.compile(**optimizers)
    model.fit(data, epochs=args.epochs, callbacks=_training_callbacks(args, model, sample[:8].numpy()))
    model.save(args.out)
    print(f"saved {args.out}")


# Architecture flags of `train-prior` (unset: the prior class's defaults), and which prior takes which.
PRIOR_OPTIONS = ("embed_dim", "num_layers", "num_heads", "dropout")
PRIOR_OPTIONS_OF = {"pixelcnn": ("embed_dim", "num_layers")}


def cmd_train_prior(args):
    import keras

    from vqkeras.models import ImageGenerator
    from vqkeras.priors import PixelCNNPrior
    from vqkeras.priors import TransformerPrior

    priors = {"transformer": TransformerPrior, "pixelcnn": PixelCNNPrior}
    try:
        from vqkeras.priors import MaskGITPrior

        priors["maskgit"] = MaskGITPrior
    except ImportError:
        pass
    if args.prior not in priors:
        raise CommandError(f"--prior must be one of {sorted(priors)}. Received: {args.prior}")
    options = {name: getattr(args, name) for name in PRIOR_OPTIONS if getattr(args, name) is not None}
    unsupported = sorted(set(options) - set(PRIOR_OPTIONS_OF.get(args.prior, PRIOR_OPTIONS)))
    if unsupported:
        flags = ", ".join("--" + name.replace("_", "-") for name in unsupported)
        raise CommandError(f"--prior {args.prior} takes no {flags}. Received: "
                           + ", ".join(f"--{n.replace('_', '-')} {options[n]}" for n in unsupported))
    if not args.learning_rate > 0:
        raise CommandError(f"--learning-rate must be > 0. Received: --learning-rate {args.learning_rate}")
    tokenizer = _load(args.tokenizer)
    if isinstance(tokenizer, ImageGenerator):  # a trained generator: a new prior over its tokenizer's codes
        tokenizer = tokenizer.tokenizer
    tokenizer = _require(tokenizer, "encode", "a tokenizer (VQVAE / VQGAN) or an ImageGenerator", args.tokenizer)
    data = _dataset(args, channels=tokenizer.image_channels)
    height, width = next(iter(data)).shape[1:3]
    f = tokenizer.downsample_factor
    try:
        prior = priors[args.prior](tokenizer.num_embeddings, (height // f, width // f), **options)
    except ValueError as error:  # e.g. --num-heads that does not divide --embed-dim
        raise CommandError(str(error))
    generator = ImageGenerator(tokenizer, prior, dataset_name=args.data if isinstance(args.data, str) else None)
    optimizer = keras.optimizers.AdamW(args.learning_rate, weight_decay=0.01)
    generator.fit_prior(data, epochs=args.epochs, batch_size=args.batch_size, guide_at_step=args.guide_at_step,
                        optimizer=optimizer, jit_compile=args.xla or "auto")
    generator.save(args.out)
    print(f"saved {args.out}")


def cmd_train_guide(args):
    generator = _require(_load(args.model), "fit_guide", "an ImageGenerator", args.model)
    if args.steps < 1:
        raise CommandError(f"--steps must be ≥ 1. Received: --steps {args.steps}")
    height, width, channels = generator.image_shape
    args.image_size = args.image_size or height
    data = _dataset(args, channels=channels)
    got = tuple(next(iter(data)).shape[1:3])
    if got != (height, width):
        raise CommandError(f"--image-size must give the generator's {height}×{width} images. Received: "
                           f"--image-size {args.image_size} ({got[0]}×{got[1]})")
    generator.fit_guide(data, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                        jit_compile=args.xla or "auto")
    generator.save(args.out)
    print(f"saved {args.out} (guide: {args.steps} steps; sample with `vqkeras generate --guidance-scale`)")


def cmd_reconstruct(args):
    import numpy as np

    model = _require(_load(args.model), "encode", "a tokenizer or generator", args.model)
    tokenizer = getattr(model, "tokenizer", model)
    if args.image:
        images = np.stack([_read_image(p, tokenizer.image_channels, args.size) for p in args.image])
    else:
        images = next(iter(_dataset(args, channels=tokenizer.image_channels))).numpy()[: args.num_images]
    reconstructions = np.clip(model.predict(images, verbose=0), -1, 1)
    print(f"wrote {_save_grid(args.out, [images, reconstructions])} (top: input, bottom: reconstruction)")


def cmd_generate(args):
    generator = _require(_load(args.model), "generate", "an ImageGenerator", args.model)
    images = _generate_with_progress(
        generator, args.num_images, seed=args.seed, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        guidance_scale=args.guidance_scale,
    )
    print(f"wrote {_save_grid(args.out, _rows(images))}")


def cmd_style(args):
    import numpy as np

    generator = _require(_load(args.model), "generate_image", "an ImageGenerator", args.model)
    style = _read_image(args.image, generator.image_shape[-1], generator.image_shape[:2])
    looks = generator.generate_image(style, strength=args.strength, num_images=args.num_images, seed=args.seed)
    print(f"wrote {_save_grid(args.out, [np.concatenate([style[None], np.asarray(looks)])])} (first: style image)")


def cmd_inpaint(args):
    import numpy as np

    generator = _require(_load(args.model), "inpaint", "an ImageGenerator", args.model)
    height, width, channels = generator.image_shape
    image = _read_image(args.image, channels, (height, width))
    if (args.mask is None) == (args.box is None):
        raise CommandError("give exactly one of --mask FILE or --box x,y,w,h")
    if args.mask is not None:
        mask = (_read_image(args.mask, 1, (height, width))[..., 0] > 0).astype(np.float32)
    else:
        x, y, w, h = args.box
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise CommandError(f"--box must lie inside the {width}×{height} image. Received: --box {x},{y},{w},{h}")
        mask = np.zeros((height, width), np.float32)
        mask[y : y + h, x : x + w] = 1.0
    result = generator.inpaint(image[None], mask, seed=args.seed)
    masked = image * (1.0 - mask[..., None])
    print(f"wrote {_save_grid(args.out, [np.stack([image, masked, np.asarray(result)[0]])])} "
          "(input | masked | inpainted)")


def cmd_export(args):
    from vqkeras.export import export_saved_model

    model = _load(args.model)
    path = export_saved_model(model, args.out_dir, version=args.version, overwrite=args.overwrite)
    print(f"exported SavedModel to {path}")


def cmd_evaluate(args):
    from vqkeras.metrics import evaluate_model

    model = _require(_load(args.model), "encode", "a tokenizer or generator", args.model)
    tokenizer = getattr(model, "tokenizer", model)
    results = evaluate_model(tokenizer, _dataset(args, channels=tokenizer.image_channels))
    for name, value in results.items():
        print(f"{name}: {float(value):.4f}")


def demo_paths(models_dir):
    models_dir = Path(models_dir)
    return models_dir / "faces_vqgan.keras", models_dir / "fashion_vqvae.keras", models_dir / "style_examples.npy"


def cmd_demo(args):
    import time

    import numpy as np

    start = time.time()
    faces_path, fashion_path, styles_path = demo_paths(args.models_dir)
    for path in (faces_path, fashion_path, styles_path):
        if not path.exists():
            raise CommandError(f"shipped model file missing: {path} (pass --models-dir)")
    out = Path(args.out_dir)
    faces_model = _load(faces_path)
    faces = _generate_with_progress(faces_model, args.num_faces, seed=args.seed, top_k=args.top_k)
    faces_png = _save_grid(out / "faces.png", _rows(faces))
    fashion = _load(fashion_path)
    styles = np.load(styles_path, allow_pickle=False)
    rows = []
    for i, style in enumerate(styles[: args.num_styles]):
        looks = fashion.generate_image(style, strength=args.strength, num_images=args.looks, seed=args.seed + i)
        rows.append(np.concatenate([fashion.prepare_images(style).numpy(), np.asarray(looks)]))
    style_png = _save_grid(out / "style.png", rows)
    print(f"wrote {faces_png} (new faces) and {style_png} (each row: style image, then look-alikes) "
          f"in {time.time() - start:.1f} s")


# ----------------------------------------------------------------------------- parser
def _add_data_flags(parser, required=True):
    parser.add_argument("--data", required=required,
                        help="image source: an offline name (orl_faces, mnist5k, fashion_mnist), tfds:<name>, "
                             "or a folder of images")
    parser.add_argument("--image-size", type=int, default=32, help="images are centre-cropped and resized to this")
    parser.add_argument("--channels", type=int, choices=[1, 3], default=None, help="1 (gray) or 3 (RGB)")
    parser.add_argument("--split", default="train", help='data split, e.g. "train", "test", "train[:90%%]"')
    parser.add_argument("--batch-size", type=int, default=32, help="batch size")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def _add_xla_flag(parser):
    parser.add_argument("--xla", action="store_true",
                        help="compile the training step with XLA (Keras turns it on for accelerators only; it trains "
                             "the priors faster on a CPU too)")


def build_parser():
    parser = _Parser(prog="vqkeras", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a VQ-VAE or VQ-GAN tokenizer, or a recipe preset's generator")
    p.add_argument("model", nargs="?", choices=["vqvae", "vqgan"], help="which tokenizer (not with --preset)")
    p.add_argument("--preset", default=None,
                   help="a recipe preset (e.g. orl_faces_64): trains its tokenizer phases and prior offline and saves "
                        "the generator to --out; only --out and --backup-dir combine with it")
    _add_data_flags(p, required=False)
    p.add_argument("--augment", action="store_true", help="random horizontal flips")
    p.add_argument("--epochs", type=int, default=10, help="training epochs")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam learning rate")
    p.add_argument("--num-embeddings", type=int, default=512, help="codebook size K")
    p.add_argument("--latent-dim", type=int, default=64, help="code vector size")
    p.add_argument("--base-channels", type=int, default=64, help="encoder/decoder channels at full resolution")
    p.add_argument("--channel-multipliers", type=_ints, default=(1, 2, 2, 4),
                   help="per-level channel multipliers, e.g. 1,2,2,4 (downsampling f = 2^(levels-1))")
    p.add_argument("--num-res-blocks", type=int, default=2, help="residual blocks per level")
    p.add_argument("--no-attention", action="store_true", help="no self-attention at the lowest resolution")
    p.add_argument("--normalization", choices=["group", "none"], default="group",
                   help="GroupNorm in the encoder and decoder, or none (cheaper steps for small models)")
    p.add_argument("--upsample", choices=["nearest", "pixel_shuffle"], default="nearest",
                   help="decoder upsampling: nearest x2 then a conv, or a conv at the lower resolution then "
                        "depth to space (cheaper with few full-resolution channels)")
    p.add_argument("--patch-size", type=int, default=1,
                   help="p > 1: space to depth of p×p patches before the encoder and depth to space after the "
                        "decoder, so no convolution runs at full resolution (f = p·2^(levels-1))")
    p.add_argument("--quantizer", choices=["ema", "gradient"], default="ema", help="codebook learning rule")
    p.add_argument("--gradient-estimator", choices=["straight_through", "rotation"], default="straight_through",
                   help="how gradients pass the quantizer: copied, or rotated (the rotation trick)")
    p.add_argument("--disc-start", type=int, default=2000, help="VQ-GAN: steps before the discriminator trains")
    p.add_argument("--perceptual-weight", type=float, default=1.0, help="VQ-GAN: perceptual loss weight")
    p.add_argument("--perceptual-image-size", type=int, default=None,
                   help="VQ-GAN: side the images are resized to before the perceptual backbone (>= 32; helps small "
                        "images such as 28×28, whose deep feature maps are 1×1 to 4×4)")
    p.add_argument("--out", default="tokenizer.keras", help=".keras checkpoint written every epoch and at the end")
    p.add_argument("--backup-dir", default=None, help="BackupAndRestore directory: rerun to resume")
    p.add_argument("--tensorboard", default=None, help="TensorBoard log dir (scalars and reconstructions)")
    p.set_defaults(func=cmd_train, parser=p)

    p = sub.add_parser("train-prior", help="train a token prior on a tokenizer's codes -> an ImageGenerator")
    p.add_argument("--tokenizer", required=True,
                   help="tokenizer .keras file (from `vqkeras train`), or an ImageGenerator's (its tokenizer)")
    _add_data_flags(p)
    p.add_argument("--prior", default="transformer", help="transformer, pixelcnn or maskgit")
    p.add_argument("--epochs", type=int, default=10, help="prior epochs")
    p.add_argument("--learning-rate", type=float, default=3e-4, help="AdamW learning rate (weight decay 0.01)")
    p.add_argument("--embed-dim", type=int, default=None, help="prior width (default: the prior's own)")
    p.add_argument("--num-layers", type=int, default=None, help="prior depth (default: the prior's own)")
    p.add_argument("--num-heads", type=int, default=None, help="transformer/maskgit: attention heads")
    p.add_argument("--dropout", type=float, default=None, help="transformer/maskgit: dropout rate")
    p.add_argument("--guide-at-step", type=int, default=None,
                   help="keep the prior of this training step as the guide of `generate --guidance-scale` "
                        "(about a tenth of the run's steps)")
    _add_xla_flag(p)
    p.add_argument("--out", default="generator.keras", help="ImageGenerator .keras file")
    p.set_defaults(func=cmd_train_prior)

    p = sub.add_parser("train-guide", help="train a guide for a trained generator's prior (generate --guidance-scale)")
    p.add_argument("--model", required=True, help="ImageGenerator .keras file (its prior already trained)")
    _add_data_flags(p)
    p.add_argument("--steps", type=int, required=True,
                   help="the guide's training steps: about a twentieth to a tenth of the prior's own")
    _add_xla_flag(p)
    p.add_argument("--out", default="guided_generator.keras", help="the generator with its guide (.keras)")
    p.set_defaults(func=cmd_train_guide, image_size=None)

    p = sub.add_parser("reconstruct", help="encode and decode images; PNG grid of inputs and reconstructions")
    p.add_argument("--model", required=True, help="tokenizer or generator .keras file")
    p.add_argument("--image", nargs="*", default=None, help="image files (else: --data)")
    p.add_argument("--size", type=_ints, default=None, help="resize image files to h,w")
    _add_data_flags(p, required=False)
    p.add_argument("--num-images", type=int, default=8, help="images taken from --data")
    p.add_argument("--out", default="reconstructions.png", help="output PNG")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("generate", help="sample new images from an ImageGenerator")
    p.add_argument("--model", required=True, help="ImageGenerator .keras file")
    p.add_argument("--num-images", type=int, default=16, help="images to generate")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (> 0)")
    p.add_argument("--top-k", type=int, default=None, help="keep the k most likely codes")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass in (0, 1]")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same images)")
    p.add_argument("--guidance-scale", type=float, default=None,
                   help="guided sampling by the generator's guide (from `train-prior --guide-at-step`), w >= 0")
    p.add_argument("--out", default="samples.png", help="output PNG grid")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("style", help="generate images in the style of a given image (generate_image)")
    p.add_argument("--model", required=True, help="ImageGenerator .keras file")
    p.add_argument("--image", required=True, help="style image file")
    p.add_argument("--strength", type=float, default=0.5, help="fraction of codes that may change, in [0, 1]")
    p.add_argument("--num-images", type=int, default=4, help="look-alikes to generate")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", default="style.png", help="output PNG: style image, then look-alikes")
    p.set_defaults(func=cmd_style)

    p = sub.add_parser("inpaint", help="fill in a masked region of an image")
    p.add_argument("--model", required=True, help="ImageGenerator .keras file (a MaskGIT prior works best)")
    p.add_argument("--image", required=True, help="image file")
    p.add_argument("--mask", default=None, help="mask image file: white = fill in")
    p.add_argument("--box", type=_box, default=None, help="box to fill in: x,y,w,h in pixels")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", default="inpainted.png", help="output PNG: input | masked | inpainted")
    p.set_defaults(func=cmd_inpaint)

    p = sub.add_parser("export", help="export a SavedModel for TF Serving (path/<version>/)")
    p.add_argument("--model", required=True, help=".keras file of a tokenizer or ImageGenerator")
    p.add_argument("--out-dir", required=True, help="export base directory")
    p.add_argument("--version", type=int, default=1, help="model version sub-directory")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty version directory")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("evaluate", help="print PSNR, SSIM, codebook usage and perplexity on a data source")
    p.add_argument("--model", required=True, help="tokenizer or generator .keras file")
    _add_data_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="new faces and style look-alikes from the shipped models (offline)")
    p.add_argument("--out-dir", default=".", help="where to write faces.png and style.png")
    p.add_argument("--models-dir", default=str(DEFAULT_MODELS_DIR), help="folder of the shipped models")
    p.add_argument("--num-faces", type=int, default=16, help="faces to generate")
    p.add_argument("--num-styles", type=int, default=6, help="style images (rows of style.png)")
    p.add_argument("--looks", type=int, default=5, help="look-alikes per style image")
    p.add_argument("--strength", type=float, default=0.5, help="generate_image strength")
    p.add_argument("--top-k", type=int, default=None, help="top-k filter for the faces")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CommandError as error:
        print(f"vqkeras: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        # Bad input surfaces as these (TensorFlow's run-time checks, e.g. NaN, as its OpError): one line, exit 2.
        expected = (ValueError, FileNotFoundError, ImportError, OSError)
        if not isinstance(error, expected) and not type(error).__module__.startswith("tensorflow"):
            raise
        message = " ".join(str(error).split())
        print(f"vqkeras: error: {type(error).__name__}: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
