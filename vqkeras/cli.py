"""The `vqkeras` command line: train, sample, restore, export and evaluate VQ models.

Every subcommand documents its flags in `vqkeras <subcommand> --help`. Errors print one line and exit with code 2,
before any work: every number is checked against its flag's range and every path for being readable (inputs) or
writable with a known extension (outputs) before a command loads data, trains or samples. TensorFlow's own log lines
are hidden (see `vqkeras._startup`); set TF_CPP_MIN_LOG_LEVEL, e.g. to 0, to see them.
"""

import argparse
import math
import sys
import tempfile
from pathlib import Path

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "saved_models"
# Formats `keras.utils.save_img` writes for the grids (it picks the format from the extension).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tiff", ".webp")


class CommandError(Exception):
    """A user-facing error: printed on one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"vqkeras: error: {message} (see `{self.prog} --help`)\n")

    def check(self, args):
        """Checks every flag whose `type=` carries a rule (`_Number`, `_Path`), in the order of `--help`.

        Runs after parsing and before the command, so a bad number or path stops the command before any work.

        Raises:
            CommandError: for the first flag that breaks its rule, naming the flag and the value received.
        """
        for action in self._actions:
            rule = getattr(action.type, "check", None)
            value = getattr(args, action.dest, None)
            if rule is None or value is None:
                continue
            for item in value if isinstance(value, list) else [value]:  # nargs="*" flags hold a list
                rule(action.option_strings[0], item)


# ----------------------------------------------------------------------------- flag rules
class _Number:
    """A number flag's `type=`, which carries the flag's range; `_Parser.check` enforces the range.

    A single number parses as `kind` does, so a typo reads "invalid int value" or "invalid float value". With an
    `example` such as "h,w", the flag takes comma-separated numbers, as many as the example has (any number if
    `count=None`), and every one must lie in the range. NaN and ±inf lie outside every range.
    """

    def __init__(self, kind, low, high=math.inf, low_open=False, high_open=False, example=None, count=-1):
        self.kind, self.low, self.high, self.low_open, self.high_open = kind, low, high, low_open, high_open
        self.example = example
        self.count = len(example.split(",")) if example and count == -1 else count
        self.__name__ = kind.__name__  # argparse names the type in "invalid ... value"

    def __call__(self, text):
        if self.example is None:
            return self.kind(text)
        try:
            values = tuple(self.kind(part) for part in text.split(","))
        except ValueError:
            values = ()
        if not values or self.count not in (None, len(values)):
            noun = "integers" if self.kind is int else "numbers"
            raise argparse.ArgumentTypeError(f"expected {self.count or ''} comma-separated {noun}, "
                                             f"e.g. {self.example}. Received: {text!r}".replace("  ", " "))
        return values

    @property
    def range(self):
        if self.high == math.inf:
            return f"{'>' if self.low_open else '≥'} {self.low}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"

    def contains(self, value):
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return math.isfinite(value) and above and below

    def check(self, flag, value):
        values = value if isinstance(value, tuple) else (value,)
        if not all(self.contains(v) for v in values):
            finite = "" if all(math.isfinite(v) for v in values) else "finite and "
            shown = ",".join(str(v) for v in values)
            raise CommandError(f"{flag} must be {finite}{self.range}. Received: {flag} {shown}")


COUNT = _Number(int, 1)  # images, epochs, steps, layers, channels
NATURAL = _Number(int, 0)
POSITIVE = _Number(float, 0, low_open=True)  # learning rates, temperatures
NON_NEGATIVE = _Number(float, 0)
FRACTION = _Number(float, 0, 1)  # strengths
RATE = _Number(float, 0, 1, high_open=True)  # dropout
MASS = _Number(float, 0, 1, low_open=True)  # top-p


class _Path:
    """A path flag's `type=`: the value stays a string; `_Parser.check` tells whether the command can use it.

    - `role="in"`: the file (or, with `folder=True`, the folder) must exist and be one;
    - `role="out"`: its name must end in one of `suffixes` (when given), it must not be an existing folder (or, with
      `folder=True`, an existing file), and the nearest existing folder on its path must take a new file: a real
      write is tried (an access check says yes to root even in `/proc`). Missing folders are created later.
      Suffixes match exactly (Keras saves models to `.keras` only), or in any case with `any_case=True`.
    """

    def __init__(self, what, role, suffixes=(), folder=False, any_case=False):
        self.what, self.role, self.suffixes, self.folder, self.any_case = what, role, suffixes, folder, any_case
        self.a_what = ("an " if what[0] in "aeiou" else "a ") + what
        self.__name__ = "path"

    def __call__(self, text):
        return text

    def check(self, flag, value):
        path = Path(value)
        if self.role == "in":
            if not path.exists():
                raise CommandError(f"{flag}: {self.what} not found: {value}")
            if path.is_dir() != self.folder:
                raise CommandError(f"{flag} must be {self.a_what}, not a {'file' if self.folder else 'folder'}. "
                                   f"Received: {flag} {value}")
            return
        if self.suffixes and (path.suffix.lower() if self.any_case else path.suffix) not in self.suffixes:
            raise CommandError(f"{flag} must end in {' or '.join(self.suffixes)}. Received: {flag} {value}")
        if path.exists() and path.is_dir() != self.folder:
            raise CommandError(f"{flag} must be {self.a_what}, but it is an existing "
                               f"{'file' if self.folder else 'folder'}. Received: {flag} {value}")
        _check_writable(flag, value, path if self.folder else path.parent)


def _check_writable(flag, value, folder):
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(f"{flag} lies under {existing}, which is a file. Received: {flag} {value}")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise CommandError(f"{flag} is not writable: cannot create files in {existing} ({error.strerror}). "
                           f"Received: {flag} {value}")


MULTIPLIERS = _Number(int, 1, example="1,2,2,4", count=None)
LEVELS = _Number(int, 2, example="8,5,5,5", count=None)  # FSQ levels per channel
SIZE = _Number(int, 1, example="h,w")
BOX = _Number(int, 0, example="x,y,w,h")


MODEL_IN = _Path("model file", "in")
CHECKPOINT_IN = _Path("checkpoint file", "in")
IMAGE_IN = _Path("image file", "in")
FOLDER_IN = _Path("folder", "in", folder=True)
MODEL_OUT = _Path("model file", "out", suffixes=(".keras",))
IMAGE_OUT = _Path("image file", "out", suffixes=IMAGE_SUFFIXES, any_case=True)
FOLDER_OUT = _Path("folder", "out", folder=True)


# ----------------------------------------------------------------------------- helpers
def _load(path):
    """Loads a `.keras` model through the checked `vqkeras.export.load_model` (safe_mode on)."""
    from vqkeras.export import load_model

    try:
        return load_model(path)
    except (ValueError, OSError) as error:  # a truncated, corrupted or foreign file: say so in one line
        raise CommandError(f"could not load the model: {' '.join(str(error).split())}")


def _check_image_size(flag, size, tokenizer):
    """Image sides (`size`: one side or `(h, w)`) must be multiples of the tokenizer's downsampling factor."""
    from vqkeras.models.vqvae import nearest_valid_sizes

    factor = tokenizer.downsample_factor
    sides = size if isinstance(size, tuple) else (size,)
    for side in sides:
        if side % factor:
            raise CommandError(f"{flag} must be a multiple of the model's downsampling factor {factor} (nearest: "
                               f"{' or '.join(map(str, nearest_valid_sizes(side, factor)))}). Received: {flag} "
                               + ",".join(map(str, sides)))


def _require(model, attribute, what, path):
    if not hasattr(model, attribute):
        raise CommandError(f"{path} holds a {type(model).__name__}, not {what}")
    return model


def _read_image(path, channels, size=None):
    """One image file as float32 (H, W, C) in [-1, 1] with `channels` channels, optionally centre-cropped and resized
    to `size` (h, w) by the library's one converter (`vqkeras.utils.images.convert_images`)."""
    import numpy as np
    from PIL import Image
    from PIL import UnidentifiedImageError

    from vqkeras.utils.images import convert_images

    try:
        with Image.open(path) as image:
            colour = "R" in image.getbands() or image.mode == "P"
            array = np.asarray(image.convert("RGB" if colour else "L"), np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise CommandError(f"cannot read image {path}: {error}")
    array = array[..., None] if array.ndim == 2 else array
    return convert_images(array, size, channels, str(path), integer_pixels=True, convert=True).numpy()[0]


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


def _training_callbacks(args, data, sample_images):
    import keras

    from vqkeras.callbacks import AtomicBackupAndRestore
    from vqkeras.callbacks import DatasetEpoch
    from vqkeras.callbacks import ImageLogger

    # `model.save` (which ModelCheckpoint calls) and the backups replace their files atomically; DatasetEpoch gives
    # each epoch the data order of (seed, epoch), so a resumed run trains on the batches of an uninterrupted one.
    callbacks = [DatasetEpoch(data), keras.callbacks.ModelCheckpoint(str(args.out))]
    if args.backup_dir:
        callbacks.append(AtomicBackupAndRestore(args.backup_dir))
    if args.tensorboard:
        callbacks += [keras.callbacks.TensorBoard(args.tensorboard), ImageLogger(args.tensorboard, sample_images)]
    return callbacks


# `vqkeras train` flags that a --preset run takes; every other flag must keep its default there.
_PRESET_FLAGS = {"command", "func", "parser", "model", "preset", "out", "backup_dir"}


def _train_preset(args):
    """`vqkeras train --preset NAME`: the recipe's whole `train_vqgan` run, saved as an inference generator."""
    from vqkeras.presets import get_recipe

    try:
        get_recipe(args.preset)
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

    if args.preset:
        return _train_preset(args)
    if args.model is None or args.data is None:
        raise CommandError("train needs a model (vqvae or vqgan) and --data, unless --preset names a recipe")
    keras.utils.set_random_seed(args.seed)  # the initial weights too, not only the data order
    quantizer = args.quantizer
    if quantizer not in ("ema", "gradient") or args.kmeans_init:  # before the data: a bad option costs nothing
        from vqkeras.quantizers import make_quantizer

        quantizer = make_quantizer(
            args.quantizer, args.latent_dim, num_embeddings=args.num_embeddings, levels=args.levels,
            num_bits=args.num_bits, depth=args.depth, kmeans_init=args.kmeans_init,
        )
    data = _dataset(args)
    sample = next(iter(data))
    config = dict(
        image_channels=int(sample.shape[-1]), num_embeddings=args.num_embeddings, latent_dim=args.latent_dim,
        base_channels=args.base_channels, channel_multipliers=args.channel_multipliers,
        num_res_blocks=args.num_res_blocks, use_attention=not args.no_attention,
        normalization=args.normalization, upsample=args.upsample, patch_size=args.patch_size,
        quantizer=quantizer,
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
    model.fit(data, epochs=args.epochs, callbacks=_training_callbacks(args, data, sample[:8].numpy()),
              shuffle=False)  # `load_images` shuffles each epoch
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
    tokenizer = _load(args.tokenizer)
    if isinstance(tokenizer, ImageGenerator):  # a trained generator: a new prior over its tokenizer's codes
        tokenizer = tokenizer.tokenizer
    tokenizer = _require(tokenizer, "encode", "a tokenizer (VQVAE / VQGAN) or an ImageGenerator", args.tokenizer)
    _check_image_size("--image-size", args.image_size, tokenizer)
    data = _dataset(args, channels=tokenizer.image_channels)
    height, width = next(iter(data)).shape[1:3]
    f = tokenizer.downsample_factor
    keras.utils.set_random_seed(args.seed)  # the prior's initial weights too, not only the data order
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
    import keras

    generator = _require(_load(args.model), "fit_guide", "an ImageGenerator", args.model)
    height, width, channels = generator.image_shape
    args.image_size = args.image_size or height
    data = _dataset(args, channels=channels)
    got = tuple(next(iter(data)).shape[1:3])
    if got != (height, width):
        raise CommandError(f"--image-size must give the generator's {height}×{width} images. Received: "
                           f"--image-size {args.image_size} ({got[0]}×{got[1]})")
    keras.utils.set_random_seed(args.seed)  # the guide's initial weights too, not only the data order
    generator.fit_guide(data, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                        jit_compile=args.xla or "auto")
    generator.save(args.out)
    print(f"saved {args.out} (guide: {args.steps} steps; sample with `vqkeras generate --guidance-scale`)")


def cmd_reconstruct(args):
    import numpy as np

    if (args.image is None) == (args.data is None):
        raise CommandError("give exactly one of --image FILE ... or --data SOURCE")
    if args.image == []:
        raise CommandError("--image needs at least one image file")
    if args.size is not None and args.image is None:
        raise CommandError(f"--size resizes --image files; --data images take --image-size. "
                           f"Received: --size {','.join(map(str, args.size))}")
    model = _require(_load(args.model), "encode", "a tokenizer or generator", args.model)
    tokenizer = getattr(model, "tokenizer", model)
    if args.image:
        if args.size is not None:
            _check_image_size("--size", args.size, tokenizer)
        images = [_read_image(p, tokenizer.image_channels, args.size) for p in args.image]
        sizes = sorted({image.shape[:2] for image in images})
        if len(sizes) > 1 or any(side % tokenizer.downsample_factor for side in sizes[0]):
            raise CommandError(f"the --image files are {', '.join(f'{h}×{w}' for h, w in sizes)}: give --size h,w "
                               f"(multiples of the model's downsampling factor {tokenizer.downsample_factor})")
        images = np.stack(images)
    else:
        _check_image_size("--image-size", args.image_size, tokenizer)
        data = _dataset(args, channels=tokenizer.image_channels)
        images = np.concatenate(list(data.unbatch().take(args.num_images).batch(args.num_images).as_numpy_iterator()))
        if len(images) < args.num_images:
            raise CommandError(f"--num-images must be at most the {len(images)} images of --data {args.data} "
                               f"--split {args.split}. Received: --num-images {args.num_images}")
    reconstructions = np.clip(model.predict(images, verbose=0), -1, 1)
    print(f"wrote {_save_grid(args.out, [images, reconstructions])} (top: input, bottom: reconstruction)")


def cmd_generate(args):
    from vqkeras.samplers import Sampler

    sampler = Sampler(args.temperature, top_k=args.top_k, top_p=args.top_p, guidance_scale=args.guidance_scale)
    generator = _require(_load(args.model), "generate", "an ImageGenerator", args.model)
    images = _generate_with_progress(generator, args.num_images, sampler=sampler, seed=args.seed)
    print(f"wrote {_save_grid(args.out, _rows(images))}")


def cmd_style(args):
    import numpy as np

    generator = _require(_load(args.model), "generate_image", "an ImageGenerator", args.model)
    style = _read_image(args.image, generator.image_shape[-1], generator.image_shape[:2])
    looks = generator.generate_image(style, strength=args.strength, num_images=args.num_images, seed=args.seed)
    print(f"wrote {_save_grid(args.out, [np.concatenate([style[None], np.asarray(looks)])])} (first: style image)")


def cmd_inpaint(args):
    import numpy as np

    if (args.mask is None) == (args.box is None):
        raise CommandError("give exactly one of --mask FILE or --box x,y,w,h")
    generator = _require(_load(args.model), "inpaint", "an ImageGenerator", args.model)
    height, width, channels = generator.image_shape
    image = _read_image(args.image, channels, (height, width))
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
    _check_image_size("--image-size", args.image_size, tokenizer)
    results = evaluate_model(tokenizer, _dataset(args, channels=tokenizer.image_channels))
    for name, value in results.items():
        print(f"{name}: {float(value):.4f}")


def cmd_convert(args):
    import pickle

    from vqkeras.convert import from_llamagen
    from vqkeras.convert import from_taming

    converter = {"taming": from_taming, "llamagen": from_llamagen}[args.source]
    try:
        model = converter(args.checkpoint)
    except pickle.UnpicklingError as error:  # a global outside the reader's allow-list: named, never run
        raise CommandError(f"{args.checkpoint}: {error}")
    model.save(args.out)  # atomic: a temporary file beside it, then os.replace
    print(f"wrote {args.out}: {args.source} tokenizer, {model.num_embeddings} codes of dim {model.latent_dim}, "
          f"f = {model.downsample_factor}, {model.count_params():,} parameters")


def demo_paths(models_dir):
    models_dir = Path(models_dir)
    return models_dir / "faces_vqgan.keras", models_dir / "fashion_vqgan.keras", models_dir / "style_examples.npy"


def cmd_demo(args):
    import time

    import numpy as np

    from vqkeras.samplers import Sampler

    start = time.time()
    faces_path, fashion_path, styles_path = demo_paths(args.models_dir)
    for path in (faces_path, fashion_path, styles_path):
        if not path.exists():
            raise CommandError(f"shipped model file missing: {path} (pass --models-dir)")
    out = Path(args.out_dir)
    faces_model, fashion = _load(faces_path), _load(fashion_path)
    styles = np.load(styles_path, allow_pickle=False)
    if args.num_styles > len(styles):
        raise CommandError(f"--num-styles must be at most the {len(styles)} shipped style images. Received: "
                           f"--num-styles {args.num_styles}")
    faces = _generate_with_progress(faces_model, args.num_faces, sampler=Sampler(top_k=args.top_k), seed=args.seed)
    faces_png = _save_grid(out / "faces.png", _rows(faces))
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
    parser.add_argument("--image-size", type=COUNT, default=32, help="images are centre-cropped and resized to this")
    parser.add_argument("--channels", type=int, choices=[1, 3], default=None, help="1 (gray) or 3 (RGB)")
    parser.add_argument("--split", default="train", help='data split, e.g. "train", "test", "train[:90%%]"')
    parser.add_argument("--batch-size", type=COUNT, default=32, help="batch size")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def _add_seed_and_image_out_flags(parser, out, out_help, seed_help="random seed"):
    """The last flags of a command that draws images: `--seed` and the output PNG `--out`."""
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
    parser.add_argument("--out", type=IMAGE_OUT, default=out, help=out_help)


def _add_xla_flag(parser):
    parser.add_argument("--xla", action="store_true",
                        help="compile the training step with XLA (Keras turns it on for accelerators only; it trains "
                             "the priors faster on a CPU too)")


def build_parser():
    parser = _Parser(prog="vqkeras", description=__doc__.splitlines()[0],
                     epilog="TensorFlow's log lines are hidden; set TF_CPP_MIN_LOG_LEVEL=0 to see them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a VQ-VAE or VQ-GAN tokenizer, or a recipe preset's generator")
    p.add_argument("model", nargs="?", choices=["vqvae", "vqgan"], help="which tokenizer (not with --preset)")
    p.add_argument("--preset", default=None,
                   help="a recipe preset (e.g. orl_faces_64): trains its tokenizer phases and prior offline and saves "
                        "the generator to --out; only --out and --backup-dir combine with it")
    _add_data_flags(p, required=False)
    p.add_argument("--augment", action="store_true", help="random horizontal flips")
    p.add_argument("--epochs", type=COUNT, default=10, help="training epochs")
    p.add_argument("--learning-rate", type=POSITIVE, default=2e-4, help="Adam learning rate")
    p.add_argument("--num-embeddings", type=COUNT, default=512, help="codebook size K")
    p.add_argument("--latent-dim", type=COUNT, default=64, help="code vector size")
    p.add_argument("--base-channels", type=COUNT, default=64, help="encoder/decoder channels at full resolution")
    p.add_argument("--channel-multipliers", type=MULTIPLIERS, default=(1, 2, 2, 4),
                   help="per-level channel multipliers, e.g. 1,2,2,4 (downsampling f = 2^(levels-1))")
    p.add_argument("--num-res-blocks", type=NATURAL, default=2, help="residual blocks per level")
    p.add_argument("--no-attention", action="store_true", help="no self-attention at the lowest resolution")
    p.add_argument("--normalization", choices=["group", "none"], default="group",
                   help="GroupNorm in the encoder and decoder, or none (cheaper steps for small models)")
    p.add_argument("--upsample", choices=["nearest", "pixel_shuffle"], default="nearest",
                   help="decoder upsampling: nearest x2 then a conv, or a conv at the lower resolution then "
                        "depth to space (cheaper with few full-resolution channels)")
    p.add_argument("--patch-size", type=COUNT, default=1,
                   help="p > 1: space to depth of p×p patches before the encoder and depth to space after the "
                        "decoder, so no convolution runs at full resolution (f = p·2^(levels-1))")
    p.add_argument("--quantizer", choices=["ema", "gradient", "fsq", "lfq", "bsq", "gumbel", "residual"],
                   default="ema", help="quantizer family (vqkeras.quantizers.make_quantizer)")
    p.add_argument("--levels", type=LEVELS, default=None, help="fsq (or residual FSQ): levels per channel, e.g. 8,5,5,5")
    p.add_argument("--num-bits", type=COUNT, default=None, help="lfq / bsq: bits per code (2^bits codes)")
    p.add_argument("--depth", type=COUNT, default=None, help="residual: number of stages (default 4)")
    p.add_argument("--kmeans-init", action="store_true", help="ema / gradient / residual: k-means codebook init")
    p.add_argument("--disc-start", type=NATURAL, default=2000, help="VQ-GAN: steps before the discriminator trains")
    p.add_argument("--perceptual-weight", type=NON_NEGATIVE, default=1.0, help="VQ-GAN: perceptual loss weight")
    p.add_argument("--perceptual-image-size", type=COUNT, default=None,
                   help="VQ-GAN: side the images are resized to before the perceptual backbone (>= 32; helps small "
                        "images such as 28×28, whose deep feature maps are 1×1 to 4×4)")
    p.add_argument("--out", type=MODEL_OUT, default="tokenizer.keras",
                   help=".keras checkpoint written every epoch and at the end")
    p.add_argument("--backup-dir", type=FOLDER_OUT, default=None,
                   help="BackupAndRestore directory: rerun to resume")
    p.add_argument("--tensorboard", type=FOLDER_OUT, default=None,
                   help="TensorBoard log dir (scalars and reconstructions)")
    p.set_defaults(func=cmd_train, parser=p)

    p = sub.add_parser("train-prior", help="train a token prior on a tokenizer's codes -> an ImageGenerator")
    p.add_argument("--tokenizer", type=MODEL_IN, required=True,
                   help="tokenizer .keras file (from `vqkeras train`), or an ImageGenerator's (its tokenizer)")
    _add_data_flags(p)
    p.add_argument("--prior", default="transformer", help="transformer, pixelcnn or maskgit")
    p.add_argument("--epochs", type=COUNT, default=10, help="prior epochs")
    p.add_argument("--learning-rate", type=POSITIVE, default=3e-4, help="AdamW learning rate (weight decay 0.01)")
    p.add_argument("--embed-dim", type=COUNT, default=None, help="prior width (default: the prior's own)")
    p.add_argument("--num-layers", type=COUNT, default=None, help="prior depth (default: the prior's own)")
    p.add_argument("--num-heads", type=COUNT, default=None, help="transformer/maskgit: attention heads")
    p.add_argument("--dropout", type=RATE, default=None, help="transformer/maskgit: dropout rate")
    p.add_argument("--guide-at-step", type=COUNT, default=None,
                   help="keep the prior of this training step as the guide of `generate --guidance-scale` "
                        "(about a tenth of the run's steps)")
    _add_xla_flag(p)
    p.add_argument("--out", type=MODEL_OUT, default="generator.keras", help="ImageGenerator .keras file")
    p.set_defaults(func=cmd_train_prior)

    p = sub.add_parser("train-guide", help="train a guide for a trained generator's prior (generate --guidance-scale)")
    p.add_argument("--model", type=MODEL_IN, required=True,
                   help="ImageGenerator .keras file (its prior already trained)")
    _add_data_flags(p)
    p.add_argument("--steps", type=COUNT, required=True,
                   help="the guide's training steps: about a twentieth to a tenth of the prior's own")
    _add_xla_flag(p)
    p.add_argument("--out", type=MODEL_OUT, default="guided_generator.keras",
                   help="the generator with its guide (.keras)")
    p.set_defaults(func=cmd_train_guide, image_size=None)

    p = sub.add_parser("reconstruct", help="encode and decode images; PNG grid of inputs and reconstructions")
    p.add_argument("--model", type=MODEL_IN, required=True, help="tokenizer or generator .keras file")
    p.add_argument("--image", type=IMAGE_IN, nargs="*", default=None, help="image files (else: --data)")
    p.add_argument("--size", type=SIZE, default=None, help="resize image files to h,w")
    _add_data_flags(p, required=False)
    p.add_argument("--num-images", type=COUNT, default=8, help="images taken from --data")
    p.add_argument("--out", type=IMAGE_OUT, default="reconstructions.png", help="output PNG")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("generate", help="sample new images from an ImageGenerator")
    p.add_argument("--model", type=MODEL_IN, required=True, help="ImageGenerator .keras file")
    p.add_argument("--num-images", type=COUNT, default=16, help="images to generate")
    p.add_argument("--temperature", type=POSITIVE, default=1.0, help="sampling temperature (> 0)")
    p.add_argument("--top-k", type=COUNT, default=None, help="keep the k most likely codes")
    p.add_argument("--top-p", type=MASS, default=None, help="nucleus sampling mass in (0, 1]")
    p.add_argument("--guidance-scale", type=NON_NEGATIVE, default=None,
                   help="guided sampling by the generator's guide (from `train-prior --guide-at-step`), w >= 0")
    _add_seed_and_image_out_flags(p, "samples.png", "output PNG grid", seed_help="random seed (same seed, same images)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("style", help="generate images in the style of a given image (generate_image)")
    p.add_argument("--model", type=MODEL_IN, required=True, help="ImageGenerator .keras file")
    p.add_argument("--image", type=IMAGE_IN, required=True, help="style image file")
    p.add_argument("--strength", type=FRACTION, default=0.5, help="fraction of codes that may change, in [0, 1]")
    p.add_argument("--num-images", type=COUNT, default=4, help="look-alikes to generate")
    _add_seed_and_image_out_flags(p, "style.png", "output PNG: style image, then look-alikes")
    p.set_defaults(func=cmd_style)

    p = sub.add_parser("inpaint", help="fill in a masked region of an image")
    p.add_argument("--model", type=MODEL_IN, required=True,
                   help="ImageGenerator .keras file (a MaskGIT prior works best)")
    p.add_argument("--image", type=IMAGE_IN, required=True, help="image file")
    p.add_argument("--mask", type=IMAGE_IN, default=None, help="mask image file: white = fill in")
    p.add_argument("--box", type=BOX, default=None, help="box to fill in: x,y,w,h in pixels")
    _add_seed_and_image_out_flags(p, "inpainted.png", "output PNG: input | masked | inpainted")
    p.set_defaults(func=cmd_inpaint)

    p = sub.add_parser("export", help="export a SavedModel for TF Serving (path/<version>/)")
    p.add_argument("--model", type=MODEL_IN, required=True, help=".keras file of a tokenizer or ImageGenerator")
    p.add_argument("--out-dir", type=FOLDER_OUT, required=True, help="export base directory")
    p.add_argument("--version", type=NATURAL, default=1, help="model version sub-directory")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty version directory")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("evaluate", help="print PSNR, SSIM, codebook usage and perplexity on a data source")
    p.add_argument("--model", type=MODEL_IN, required=True, help="tokenizer or generator .keras file")
    _add_data_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("convert", help="convert a taming-transformers or LlamaGen checkpoint into a .keras tokenizer")
    p.add_argument("--from", dest="source", required=True, choices=["taming", "llamagen"],
                   help="which code base wrote the checkpoint")
    p.add_argument("--checkpoint", type=CHECKPOINT_IN, required=True,
                   help="the torch.save file (.ckpt, .pt); read without torch")
    p.add_argument("--out", type=MODEL_OUT, required=True, help="output .keras file")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("demo", help="new faces and style look-alikes from the shipped models (offline)")
    p.add_argument("--out-dir", type=FOLDER_OUT, default=".", help="where to write faces.png and style.png")
    p.add_argument("--models-dir", type=FOLDER_IN, default=str(DEFAULT_MODELS_DIR), help="folder of the shipped models")
    p.add_argument("--num-faces", type=COUNT, default=16, help="faces to generate")
    p.add_argument("--num-styles", type=COUNT, default=6, help="style images (rows of style.png)")
    p.add_argument("--looks", type=COUNT, default=5, help="look-alikes per style image")
    p.add_argument("--strength", type=FRACTION, default=0.5, help="generate_image strength")
    p.add_argument("--top-k", type=COUNT, default=None, help="top-k filter for the faces")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=cmd_demo)
    parser.commands = sub.choices  # name -> subcommand parser, for `main`'s checks
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        parser.commands[args.command].check(args)  # every number and path, before any work
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
