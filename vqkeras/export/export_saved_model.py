"""SavedModel export for TF Serving (`export_saved_model`) and checked loading of saved vqkeras models (`load_model`).

A tokenizer (`VQVAE`, `VQGAN`) exports three signatures, an `ImageGenerator` four; every one has a dynamic batch and
returns a dict, so REST clients see stable output names:

- `serving_default`: `images` float32 `(n, H, W, C)` in [-1, 1] → `reconstructions` float32 `(n, H, W, C)`;
- `encode`: `images` → `indices` int32 `(n, h, w)`;
- `decode`: `indices` int32 `(n, h, w)` in `[0, K)` → `images` float32 `(n, H, W, C)`;
- `generate`: `num_images` int32 `()`, `seed` int64 `()`, `temperature` float32 `()`, `top_k` int32 `()` (and
  `labels` int32 `(n,)` for a class-conditioned prior) → `images` float32, `tokens` int32 `(n, h, w)`.

With a residual quantizer (`index_shape = (depth,)`) a tokenizer's `indices` are `(n, h, w, depth)`; a generator's
are in its prior's layout, `(n, h, w·depth)` (depth innermost in the raster order), in `encode`, `decode` and
`generate`'s `tokens`.

`generate` runs the prior's whole sampling loop in the graph (`BasePrior.sample_graph`: a `tf.while_loop`, with the KV
cache of a `TransformerPrior`), so TF Serving needs no Python. Its integer `seed` becomes the stateless seed
`[0, seed]`, exactly as `vqkeras.priors.sampling.make_seed` does, and its `temperature`, `top_k` (`0` disables the
filter) and `guidance_scale` make the same `vqkeras.samplers.Sampler` as `ImageGenerator.generate_tokens` uses, so both
give the same tokens for the same sampler and seed.
"""

import json
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vqkeras.samplers.sampler import Sampler
from vqkeras.utils.atomic_files import atomic_directory

SIGNATURES = ("serving_default", "encode", "decode")
GENERATE_SIGNATURE = "generate"


# ----------------------------------------------------------------------------- export
def _split_model(model):
    """`(tokenizer, generator or None)` of a model to export; `ValueError` for anything else."""
    if hasattr(model, "tokenizer") and hasattr(model, "prior"):
        return model.tokenizer, model
    if all(hasattr(model, name) for name in ("encode", "decode", "quantizer", "downsample_factor")):
        return model, None
    raise ValueError(
        "export_saved_model() exports a VQVAE, a VQGAN or an ImageGenerator. "
        f"Received: model of type {type(model).__name__}"
    )


def _image_shape(model, tokenizer, generator, input_shape):
    """`(H, W, C)` of the exported image signatures (`H`, `W` may be `None`); builds the tokenizer if needed."""
    if input_shape is not None:
        shape = tuple(None if s is None else int(s) for s in input_shape)
        if len(shape) == 4:
            shape = shape[1:]
        if len(shape) != 3:
            raise ValueError(
                f"input_shape must be (H, W, C) or (batch, H, W, C). Received: input_shape={tuple(input_shape)}"
            )
        tokenizer.check_images(keras.KerasTensor((None, *shape), dtype="float32"), argument="input_shape images")
        if generator is not None and shape[:2] != generator.image_shape[:2] and None not in shape[:2]:
            raise ValueError(
                f"input_shape must match the generator's image shape {generator.image_shape}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        if not tokenizer.built:
            tokenizer.build((None, *shape))
        return shape
    if generator is not None:
        return tuple(generator.image_shape)
    if not tokenizer.built:
        raise ValueError(
            f"The {type(model).__name__} has never been built, so its image shape is unknown: call it on images, "
            "fit it, or pass input_shape=(H, W, C) to export_saved_model(). "
            f"Received: an unbuilt {type(model).__name__} and input_shape=None"
        )
    build_shape = (tokenizer.get_build_config() or {}).get("input_shape")
    if build_shape is None or len(build_shape) != 4:
        return (None, None, tokenizer.image_channels)
    return (build_shape[1], build_shape[2], tokenizer.image_channels)


def _version_dir(path, version, overwrite):
    """`path/<version>`; `FileExistsError` naming it if it holds files and `overwrite` is off (kept until replaced)."""
    if isinstance(version, bool) or int(version) != version or version < 0:
        raise ValueError(f"version must be a non-negative integer (TF Serving's model version). Received: {version!r}")
    target = Path(path) / str(int(version))
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"The export target {target} exists and is not a directory.")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"The export target {target} already exists and is not empty; pass overwrite=True to replace it, "
                "or export another version."
            )
    return target


def _add_image_endpoints(archive, model, tokenizer, generator, image_shape):
    height, width, channels = image_shape
    f = tokenizer.downsample_factor
    grid = (None if height is None else height // f, None if width is None else width // f)
    decode_model = generator if generator is not None else tokenizer
    index_shape = tuple(getattr(tokenizer, "index_shape", ()))
    if generator is not None:  # the generator's (and its prior's) layout: a residual depth goes into the rows
        depth = int(np.prod(index_shape))
        grid, index_shape = (grid[0], None if grid[1] is None else grid[1] * depth), ()

    def serving_default(images):
        return {"reconstructions": model(images, training=False)}

    def encode(images):
        indices = tokenizer.encode(images)
        if generator is not None:
            indices = generator.to_prior_tokens(indices)
        return {"indices": tf.cast(indices, tf.int32)}

    def decode(indices):
        # `decode` asserts that the indices lie in [0, K) (an INVALID_ARGUMENT in TF Serving otherwise), and the
        # image signatures that the images are finite and in [-1, 1] (`VQVAE.checked`).
        return {"images": decode_model.decode(indices)}

    images_spec = tf.TensorSpec((None, height, width, channels), tf.float32, name="images")
    archive.add_endpoint("serving_default", serving_default, input_signature=[images_spec])
    archive.add_endpoint("encode", encode, input_signature=[images_spec])
    archive.add_endpoint("decode", decode, input_signature=[
        tf.TensorSpec((None, *grid, *index_shape), tf.int32, name="indices")])


def _add_generate_endpoint(archive, generator):
    prior, guide = generator.prior, getattr(generator, "guide", None)  # duck-typed generators may have none
    conditioned, guided = prior.num_classes is not None, guide is not None

    def generate(num_images, seed, temperature, top_k, *rest):
        # `rest`: `labels` (class-conditioned prior), then `guidance_scale` (a generator with a guide).
        labels = rest[0] if conditioned else None
        # The signature's sampler: the same `Sampler` as `generate_tokens`, with tensor fields (top_k = 0: off).
        sampler = Sampler(temperature, top_k=top_k, guidance_scale=rest[-1] if guided else None)
        checks = [
            tf.debugging.assert_positive(num_images, message="num_images must be >= 1"),
            tf.debugging.assert_positive(temperature, message="temperature must be > 0"),
            tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0 disables top-k)"),
        ]
        if guided:
            checks.append(tf.debugging.assert_non_negative(sampler.guidance_scale,
                                                           message="guidance_scale must be >= 0 (0: unguided)"))
        with tf.control_dependencies(checks):
            # The stateless seed of `sampling.make_seed(seed)` for an integer seed: [0, seed].
            seed_pair = tf.stack([tf.constant(0, tf.int64), tf.cast(seed, tf.int64)])
            guidance = {"guide": guide} if guided else {}  # a MaskGIT prior takes no guide
            tokens = prior.sample_graph(num_images, seed_pair, sampler, labels=labels, **guidance)
        return {"images": generator.decode(tokens), "tokens": tokens}

    # Inputs in this order: the four scalars, then `labels` (class-conditioned prior), then `guidance_scale`
    # (a generator with a guide).
    specs = [
        tf.TensorSpec((), tf.int32, name="num_images"),
        tf.TensorSpec((), tf.int64, name="seed"),
        tf.TensorSpec((), tf.float32, name="temperature"),
        tf.TensorSpec((), tf.int32, name="top_k"),
    ]
    if conditioned:
        specs.append(tf.TensorSpec((None,), tf.int32, name="labels"))
    if guided:
        specs.append(tf.TensorSpec((), tf.float32, name="guidance_scale"))
    archive.add_endpoint(GENERATE_SIGNATURE, generate, input_signature=specs)


def export_saved_model(model, path, version=1, input_shape=None, overwrite=False):
    """Exports a tokenizer or an `ImageGenerator` as a TF Serving SavedModel in `path/<version>/`.

    Signatures (all with a dynamic batch; outputs are dicts with the names below):

    - `serving_default`: `images` float32 `(n, H, W, C)` in [-1, 1] → `reconstructions` float32 `(n, H, W, C)`;
    - `encode`: `images` → `indices` int32 `(n, H/f, W/f)`;
    - `decode`: `indices` int32 `(n, H/f, W/f)` in `[0, K)` → `images` float32 `(n, H, W, C)` (clipped to [-1, 1]
      for an `ImageGenerator`, like `ImageGenerator.decode`);
    - `generate` (an `ImageGenerator` only): `num_images` int32 scalar, `seed` int64 scalar, `temperature` float32
      scalar `> 0`, `top_k` int32 scalar (`0` = no top-k), plus `labels` int32 `(num_images,)` for a
      class-conditioned prior, plus `guidance_scale` float32 scalar `≥ 0` for a generator with a `guide` (`0` =
      unguided) → `images` float32 `(num_images, H, W, C)` and `tokens` int32 `(num_images, h, w)`.
      The sampling loop runs in the graph; the seed `s` is the stateless seed `[0, s]`, as in
      `ImageGenerator.generate_tokens(num_images, seed=s)`, so both give the same tokens.

    Args:
        model: A `VQVAE`, `VQGAN` or `ImageGenerator`.
        path: String or path. The export base directory (TF Serving's `--model_base_path`).
        version: Integer ≥ 0. The version sub-directory. Defaults to `1`.
        input_shape: Optional tuple `(H, W, C)` (or `(batch, H, W, C)`); `H`/`W` may be `None` for any size.
            Defaults to the generator's `image_shape`, or the shape the tokenizer was built with. Builds an unbuilt
            tokenizer.
        overwrite: Boolean. Replace a non-empty `path/<version>`. The new version is written beside it and swapped
            in, so the path holds the whole old or the whole new export at every moment. Defaults to `False`.

    Returns:
        The version directory, as a string.

    Raises:
        ValueError: if the model is not a tokenizer or generator, or was never built and `input_shape` is `None`.
        FileExistsError: if `path/<version>` is not empty and `overwrite` is `False`.

    Example:

    >>> export_saved_model(vqvae, "/models/vqvae", version=1)   # then: tensorflow_model_server --model_name=vqvae
    '/models/vqvae/1'                                          #       --model_base_path=/models/vqvae
    """
    tokenizer, generator = _split_model(model)
    image_shape = _image_shape(model, tokenizer, generator, input_shape)
    target = _version_dir(path, version, overwrite)

    # No `archive.track(model)`: the endpoints capture every variable they use, and walking the model's trackables
    # would trip over the priors' cache of sampling functions (a dict with tuple keys, which SavedModel can't save).
    archive = keras.export.ExportArchive()
    _add_image_endpoints(archive, model, tokenizer, generator, image_shape)
    if generator is not None:
        _add_generate_endpoint(archive, generator)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the old version, then swapped in: TF Serving (or a kill) never sees a half-written version.
    # The temporary name starts with a dot, so TF Serving, which loads numeric sub-directories, ignores it.
    with atomic_directory(target) as staging:
        archive.write_out(staging, verbose=False)
    return str(target)


# ----------------------------------------------------------------------------- loading
def _h5_model_class(path):
    """The class name stored in a legacy `.h5` model file, or `None` for a weights-only file."""
    import h5py

    with h5py.File(path, "r") as f:
        config = f.attrs.get("model_config")
    if config is None:
        return None
    if hasattr(config, "decode"):
        config = config.decode("utf-8")
    return json.loads(config).get("class_name")


def _is_vqkeras_class(class_name):
    registered = keras.saving.get_custom_objects()
    return f"vqkeras>{class_name}" in registered


def load_model(path, compile=True):
    """Loads a saved vqkeras model with checks and one-line errors.

    - `.keras`: `keras.models.load_model(path, safe_mode=True)` after registering the vqkeras classes.
    - A SavedModel directory (e.g. `export_saved_model`'s `path/<version>`): `tf.saved_model.load(path)`, whose
      signatures are in `.signatures`.
    - `.h5`: Keras 3 can write a vqkeras model to legacy `.h5` but cannot read it back (its legacy loader neither
      finds the registered classes nor builds subclassed models before loading their weights), so a `.h5` model file
      holding a vqkeras model raises a `ValueError` that says to use `.keras` (whole model) or `.weights.h5`
      (weights). The weights of such a file are still readable: build the same model, then
      `model.load_weights("model.h5")`.

    Args:
        path: String or path.
        compile: Boolean. For `.keras`: restore the compile state. Defaults to `True`.

    Returns:
        The Keras model (`.keras`) or the loaded SavedModel object.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for a truncated or corrupted `.keras` file, a SavedModel without its variables, a `.h5` file
            holding a vqkeras model, or an unknown format.
    """
    import vqkeras  # noqa: F401  (registers the classes)

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No saved model at {path}.")
    name = path.name.lower()
    if path.is_dir():
        return _load_saved_model(path)
    if name.endswith(".keras"):
        return _load_keras(path, compile)
    if name.endswith(".weights.h5"):
        raise ValueError(
            f"{path} holds weights only: build the model, then call model.load_weights({str(path)!r})."
        )
    if name.endswith((".h5", ".hdf5")):
        return _load_h5(path)
    raise ValueError(
        "load_model() reads a .keras file or a SavedModel directory. "
        f"Received: {path} (save models with model.save('model.keras'))"
    )


def _load_keras(path, compile):
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a valid .keras file: it is not a zip archive (truncated, corrupted, or another format)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is not a valid .keras file (truncated or corrupted): {error}") from None
    if broken is not None:
        raise ValueError(f"{path} is corrupted: the member {broken!r} fails its CRC check.")
    missing = {"config.json", "model.weights.h5"} - names
    if missing:
        raise ValueError(f"{path} is not a complete .keras file: it lacks {', '.join(sorted(missing))}.")
    try:
        model = keras.models.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # a zip with a broken config or weights: one line, not Keras' internals
        message = " ".join(str(error).split())
        if len(message) > 500:
            message = message[:500] + " ..."
        raise ValueError(
            f"Could not load {path} as a vqkeras .keras model: {type(error).__name__}: {message}"
        ) from None
    _warn_non_finite_weights(model, path)
    return model


def _warn_non_finite_weights(model, path):
    """Warns, naming them, about weights that hold NaN or Inf (a diverged run saved as is): the model loads, but
    its outputs would be NaN or its tokens meaningless."""
    bad = [w.path for w in model.weights if not np.all(np.isfinite(w.numpy()))]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.warn(
            f"{path}: {len(bad)} weight(s) hold NaN or Inf values: {shown}. The model loaded, but its outputs will "
            "not be usable; the run that saved it probably diverged.",
            stacklevel=3,
        )


def _load_saved_model(path):
    if not (path / "saved_model.pb").exists() and not (path / "saved_model.pbtxt").exists():
        versions = sorted(p.name for p in path.iterdir() if p.is_dir() and p.name.isdigit())
        hint = ""
        if versions:
            hint = f" It holds versions {', '.join(versions)}: load one of them, e.g. {path / versions[-1]}."
        raise ValueError(f"{path} is not a SavedModel directory: it has no saved_model.pb.{hint}")
    variables = path / "variables"
    if not (variables / "variables.index").exists() or not any(variables.glob("variables.data-*")):
        raise ValueError(
            f"The SavedModel at {path} is missing its variables ({variables}/variables.index and "
            "variables.data-*): copy the whole export directory, or export it again."
        )
    try:
        return tf.saved_model.load(str(path))
    except Exception as error:  # e.g. a truncated variables shard
        message = " ".join(str(error).split())
        if len(message) > 500:
            message = message[:500] + " ..."
        raise ValueError(f"Could not load the SavedModel at {path}: {type(error).__name__}: {message}") from None


def _load_h5(path):
    try:
        class_name = _h5_model_class(path)
    except OSError as error:
        raise ValueError(f"{path} is not a readable HDF5 file (truncated or corrupted): {error}") from None
    if class_name is None:
        raise ValueError(
            f"{path} holds weights only (no model config): build the model, then call "
            f"model.load_weights({str(path)!r})."
        )
    if _is_vqkeras_class(class_name):
        raise ValueError(
            f"{path} is a legacy .h5 file holding a vqkeras {class_name}: Keras 3 cannot load subclassed models from "
            "legacy .h5. Save whole models with model.save('model.keras') and load them with "
            "keras.models.load_model('model.keras'), or save weights with model.save_weights('model.weights.h5'). "
            f"To recover this file's weights, build the same {class_name}, then call "
            f"model.load_weights({str(path)!r})."
        )
    return keras.models.load_model(path, safe_mode=True)
