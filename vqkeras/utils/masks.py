"""Image masks for restoration (inpainting): boxes, centre boxes, and masks read from images.

A mask is a float32 array `(H, W)` in [0, 1]; `1` marks pixels to fill in, `0` pixels to keep.
"""

import numpy as np


def _check_positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value}")
    return int(value)


def box_mask(height, width, x, y, w, h):
    """A `(height, width)` float32 mask that is 1 inside the box `[y, y+h) × [x, x+w)` and 0 elsewhere.

    Args:
        height: Integer. Image height.
        width: Integer. Image width.
        x: Integer ≥ 0. Left column of the box.
        y: Integer ≥ 0. Top row of the box.
        w: Integer ≥ 1. Box width; `x + w ≤ width`.
        h: Integer ≥ 1. Box height; `y + h ≤ height`.

    Returns:
        Float32 NumPy array `(height, width)`.

    Example:

    >>> box_mask(4, 4, 1, 2, 2, 1)[2]
    array([0., 1., 1., 0.], dtype=float32)
    """
    height, width = _check_positive_int("height", height), _check_positive_int("width", width)
    w, h = _check_positive_int("w", w), _check_positive_int("h", h)
    for name, value in (("x", x), ("y", y)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name} must be an integer ≥ 0. Received: {name}={value}")
    x, y = int(x), int(y)
    if x + w > width or y + h > height:
        raise ValueError(
            f"The box must lie inside the {width}×{height} image (x + w ≤ width, y + h ≤ height). "
            f"Received: x={x}, y={y}, w={w}, h={h}"
        )
    mask = np.zeros((height, width), np.float32)
    mask[y:y + h, x:x + w] = 1.0
    return mask


def parse_box(text):
    """Parses `"x,y,w,h"` (the CLI's `--box`) into four integers; raises `ValueError` naming the value."""
    parts = str(text).split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ValueError(f"box must be four integers x,y,w,h. Received: box={text!r}")
    return values


def centre_box_mask(height, width, area_fraction=0.25):
    """A centred box mask covering `area_fraction` of the image (side `√area_fraction` of each dimension).

    Args:
        height: Integer. Image height.
        width: Integer. Image width.
        area_fraction: Float in `(0, 1]`. Defaults to `0.25` (a box of half the height and half the width).

    Returns:
        Float32 NumPy array `(height, width)`.
    """
    if not 0 < area_fraction <= 1:
        raise ValueError(f"area_fraction must be in (0, 1]. Received: area_fraction={area_fraction}")
    h = max(1, int(round(height * np.sqrt(area_fraction))))
    w = max(1, int(round(width * np.sqrt(area_fraction))))
    return box_mask(height, width, (width - w) // 2, (height - h) // 2, w, h)


def mask_from_image(image, threshold=0.5):
    """A binary float32 mask `(H, W)` from a mask image: 1 where any channel is above `threshold` (of full scale).

    Args:
        image: Array `(H, W)` or `(H, W, C)`; uint8 (full scale 255), bool, or float in [0, 1].
        threshold: Float in `[0, 1)`. Defaults to `0.5`.

    Returns:
        Float32 NumPy array `(H, W)` of 0 and 1.
    """
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1). Received: threshold={threshold}")
    array = np.asarray(image)
    if array.ndim == 3:
        array = array.max(axis=-1)
    if array.ndim != 2:
        raise ValueError(f"image must have shape (H, W) or (H, W, C). Received: image.shape={np.shape(image)}")
    if array.dtype == bool:
        return array.astype(np.float32)
    scale = 255.0 if np.issubdtype(array.dtype, np.integer) else 1.0
    return (array.astype(np.float32) / scale > threshold).astype(np.float32)
