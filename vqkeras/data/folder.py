"""Reading a folder of image files with PIL, skipping the ones that cannot be decoded."""

import os
import warnings

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pbm", ".gif", ".tif", ".tiff")

_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _find_image_files(folder):
    paths = []
    for root, _, files in os.walk(folder):
        paths.extend(
            os.path.join(root, name) for name in files if name.lower().endswith(IMAGE_EXTENSIONS)
        )
    return sorted(paths, key=lambda path: os.path.relpath(path, folder).split(os.sep))


def _decode(path):
    """Decodes one file to a uint8 `(H, W, 1)` or `(H, W, 3)` array (first frame of a GIF)."""
    from PIL import Image

    with warnings.catch_warnings():
        # PIL's own per-file warnings (e.g. palette transparency) would break the
        # "one warning per folder" contract; skipped files are reported together.
        warnings.simplefilter("ignore")
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                pixels = np.asarray(image, dtype=np.float64)
                high = 65535.0 if mode.startswith("I;16") or pixels.max() > 255 else 255.0
                pixels = np.clip(np.round(pixels * (255.0 / high)), 0, 255).astype(np.uint8)
            elif mode in _GRAY_MODES:
                pixels = np.asarray(image.convert("L"), dtype=np.uint8)
            else:
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"unexpected image shape {pixels.shape}")
    return pixels


def read_image_folder(folder):
    """Reads every image file under a folder, recursively, as uint8 arrays.

    Files ending in one of `IMAGE_EXTENSIONS` (png, jpg/jpeg, bmp, pgm/ppm/pbm, gif,
    tif/tiff; case-insensitive) are decoded with PIL, sorted by relative path. Files that
    cannot be read or decoded are skipped and reported by one `UserWarning` that counts
    them. If any image has colour, grayscale images are repeated to 3 channels so
    that all images share a channel count; sizes may differ.

    Args:
        folder: Path to a folder.

    Returns:
        A tuple `(images, paths)`: a list of uint8 arrays of shape `(H, W, C)` with
        one common `C` (1 or 3), and the list of their file paths.

    Example:

    >>> images, paths = read_image_folder("photos/")  # doctest: +SKIP
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"folder must be an existing directory. Received: folder={folder!r}")
    paths = _find_image_files(folder)
    if not paths:
        raise ValueError(
            f"No image files ({', '.join(IMAGE_EXTENSIONS)}) found under folder={folder!r}."
        )
    images, kept, skipped = [], [], []
    for path in paths:
        try:
            images.append(_decode(path))
            kept.append(path)
        except Exception:  # PIL raises OSError, SyntaxError, ValueError, ... on bad files.
            skipped.append(path)
    if not images:
        raise ValueError(
            f"None of the {len(paths)} image files under folder={folder!r} could be decoded."
        )
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable or corrupt image file(s) of {len(paths)} "
            f"under {folder!r} (first: {skipped[0]!r}).",
            UserWarning,
            stacklevel=2,
        )
    if any(image.shape[-1] == 3 for image in images):
        images = [np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image for image in images]
    return images, kept
