"""`from_preset`: a pretrained tokenizer by preset name, downloaded once, checked, converted once and cached."""

import hashlib
import os
import zipfile

import keras

from vqkeras.convert.llamagen import from_llamagen
from vqkeras.convert.taming import from_taming
from vqkeras.presets.registry import get_preset
from vqkeras.presets.registry import list_presets

CONVERTERS = {"taming": from_taming, "llamagen": from_llamagen}
CACHE_SUBDIR = os.path.join("vqkeras", "pretrained")


def sha256_of(path, chunk=2**22):
    """Hex SHA-256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_dir():
    root = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    folder = os.path.join(root, CACHE_SUBDIR)
    os.makedirs(folder, exist_ok=True)
    return folder


def _download(name, weights):
    """The downloaded checkpoint of preset `name` (`keras.utils.get_file`, which checks the hash when one is known);
    without a network, a `ValueError` that names both ways to get the model."""
    try:
        return keras.utils.get_file(weights["file"], weights["url"], file_hash=weights["sha256"],
                                    hash_algorithm="sha256", cache_subdir=CACHE_SUBDIR)
    except Exception as error:  # get_file raises a bare Exception for network errors
        if "hash" in str(error).lower() or "corrupt" in str(error).lower():
            raise ValueError(f"The download of preset {name!r} from {weights['url']} does not have the published "
                             f"SHA-256 {weights['sha256']}: {error}") from error
        raise ValueError(
            f"Could not download the weights of preset {name!r} from {weights['url']} "
            f"({type(error).__name__}: {error}). Either run once with a network (the file is cached), or download "
            f"the file elsewhere and pass it: from_preset({name!r}, checkpoint='/path/to/{weights['file']}')."
        ) from error


def _unwrap(path, weights, cache):
    """The checkpoint itself: the `member` of a downloaded `.zip` (latent-diffusion zips its `model.ckpt`)."""
    member = weights.get("member")
    if not member or not zipfile.is_zipfile(path):
        return path
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n == member or n.endswith("/" + member)]
        if not names:
            return path  # already the checkpoint (a torch zip file), not the archive around it
        target = os.path.join(cache, f"{os.path.basename(path)}.{member}")
        if not os.path.exists(target):
            tmp = target + ".part"
            with archive.open(names[0]) as src, open(tmp, "wb") as dst:
                while block := src.read(2**22):
                    dst.write(block)
            os.replace(tmp, target)
    return target


def from_preset(name, checkpoint=None):
    """A pretrained `VQVAE` from a preset of `vqkeras.presets.pretrained` (e.g. `"taming_imagenet_f16_16384"`).

    The checkpoint is `checkpoint` if given (offline use), else downloaded once with `keras.utils.get_file` into
    `~/.keras/vqkeras/pretrained/`. Its SHA-256 is checked when the preset has a published one. It is converted once
    (no torch needed, no code from the file run); the converted model is cached as `<name>-<sha256[:16]>.keras`
    beside the downloads and loaded from there on later calls.

    Args:
        name: String. A preset name (`vqkeras.presets.list_presets("tokenizer")`).
        checkpoint: Optional string or path-like. The preset's checkpoint file, already on disk.

    Returns:
        The `VQVAE`, loaded from the cached `.keras` (`safe_mode` on).

    Raises:
        ValueError: for an unknown name (with the closest names), a preset without downloadable weights, a hash
            mismatch, no network and no `checkpoint` (naming both ways), or a checkpoint that does not fit the
            preset's architecture (naming the first mismatched tensor).
    """
    preset = get_preset(name, kind="tokenizer")
    weights = preset.get("weights") or {}
    converter = CONVERTERS.get(weights.get("format"))
    if converter is None:
        convertible = [n for n in list_presets("tokenizer")
                       if (get_preset(n).get("weights") or {}).get("format") in CONVERTERS]
        raise ValueError(f"Preset {name!r} has no convertible pretrained weights (format "
                         f"{weights.get('format')!r}: not yet supported). Presets that convert: "
                         f"{', '.join(convertible)}.")
    cache = _cache_dir()
    if checkpoint is None:
        path = _download(name, weights)
    else:
        path = os.fspath(checkpoint)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint not found: {path}")
    digest = sha256_of(path)
    if weights.get("sha256") and digest != weights["sha256"]:
        raise ValueError(f"The checkpoint {path} does not match preset {name!r}: its SHA-256 is {digest}, the "
                         f"published one {weights['sha256']}.")
    converted = os.path.join(cache, f"{name}-{digest[:16]}.keras")
    if not os.path.exists(converted):
        model = converter(_unwrap(path, weights, cache), config=preset["config"])
        model.save(converted)  # atomic: a temporary file beside it, then os.replace
    import vqkeras  # noqa: F401  (registers the classes before loading)

    return keras.models.load_model(converted, safe_mode=True)
