"""tfds-style split strings (`"train"`, `"test[:10%]"`, `"train[100:]"`) for in-memory sources."""

import re

_SPLIT_PATTERN = re.compile(r"^\s*(\w+)\s*(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?\s*$")


def parse_split(split):
    """Parses a split string into its name and a `slice` (or `None` if it has none).

    Args:
        split: String. A split name with an optional tfds-style slice: `"train"`,
            `"train[:90%]"`, `"test[100:200]"`.

    Returns:
        A tuple `(name, bounds)` where `bounds` is `None` or a `(start, stop)` pair of
        strings (each may be `None` or end with `%`), to be resolved by `apply_split_slice`.
    """
    if not isinstance(split, str):
        raise ValueError(f"split must be a string such as 'train'. Received: split={split!r}")
    match = _SPLIT_PATTERN.match(split)
    if match is None:
        raise ValueError(
            "split must be a name with an optional slice, e.g. 'train', 'train[:90%]' or "
            f"'test[100:200]'. Received: split={split!r}"
        )
    name, start, stop = match.groups()
    bounds = None if "[" not in split else (start, stop)
    return name, bounds


def _resolve(bound, n):
    if bound is None:
        return None
    if bound.endswith("%"):
        percent = int(bound[:-1])
        return int(round(n * percent / 100))
    return int(bound)


def apply_split_slice(arrays, bounds):
    """Slices every array of `arrays` (same length) by `bounds` from `parse_split`."""
    if bounds is None:
        return arrays
    n = len(arrays[0])
    index = slice(_resolve(bounds[0], n), _resolve(bounds[1], n))
    return tuple(None if a is None else a[index] for a in arrays)
