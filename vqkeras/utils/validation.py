"""Type and range checks of public arguments, with errors that name the argument and echo the value.

One rule for every constructor and method of vqkeras: an integer argument takes an integer (a Python or NumPy
integer), never a bool, a string or a float (`8.7`, nor even `8.0` or `1e4`: a float where a count belongs is a
sign of a computation gone wrong, and the strict rule is the quantizers' too); a boolean argument takes a bool; a
float argument takes a finite real number, never a bool or a string. Nothing is coerced silently: `latent_dim=8.7`
would otherwise become `8`, `use_attention='no'` would become `True`.

Each check returns the value as a plain Python `int`, `bool` or `float`, or raises

`ValueError(f"{name} must be an integer >= 1. Received: {name}=8.7")`.
"""

import numbers

import numpy as np


def _bounds(minimum, maximum, exclusive_minimum=False, exclusive_maximum=False):
    """The range in words: `" >= 1"`, `" > 0"`, `" in [0, 1)"` or `""`."""
    if minimum is not None and maximum is not None:
        return f" in {'(' if exclusive_minimum else '['}{minimum}, {maximum}{')' if exclusive_maximum else ']'}"
    if minimum is not None:
        return f" {'>' if exclusive_minimum else '>='} {minimum}"
    if maximum is not None:
        return f" {'<' if exclusive_maximum else '<='} {maximum}"
    return ""


def _in_bounds(value, minimum, maximum, exclusive_minimum, exclusive_maximum):
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        return False
    return maximum is None or (value < maximum if exclusive_maximum else value <= maximum)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(name, value, minimum=None, maximum=None, allow_none=False):
    """`value` as an `int` if it is an integer in `[minimum, maximum]` (either bound optional), else `ValueError`.

    Args:
        name: String. The argument's name, for the error.
        value: The argument.
        minimum: Optional integer lower bound (inclusive).
        maximum: Optional integer upper bound (inclusive).
        allow_none: Boolean. Whether `None` is allowed (and returned).

    Example:

    >>> check_int("latent_dim", 8.7, minimum=1)
    Traceback (most recent call last):
    ValueError: latent_dim must be an integer >= 1. Received: latent_dim=8.7
    """
    if value is None and allow_none:
        return None
    integral = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not integral or not _in_bounds(int(value), minimum, maximum, False, False):
        requirement = f"an integer{_bounds(minimum, maximum)}{' or None' if allow_none else ''}"
        raise ValueError(f"{name} must be {requirement}. Received: {name}={value!r}")
    return int(value)


def check_bool(name, value):
    """`value` as a `bool` if it is one (Python or NumPy), else `ValueError` (no truthiness: `'no'` is refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a boolean (True or False). Received: {name}={value!r}")
    return bool(value)


def check_float(name, value, minimum=None, maximum=None, exclusive_minimum=False, exclusive_maximum=False,
                allow_none=False):
    """`value` as a `float` if it is a finite real number in the given range, else `ValueError`.

    Args:
        name: String. The argument's name, for the error.
        value: The argument.
        minimum: Optional lower bound, inclusive unless `exclusive_minimum`.
        maximum: Optional upper bound, inclusive unless `exclusive_maximum`.
        allow_none: Boolean. Whether `None` is allowed (and returned).
    """
    if value is None and allow_none:
        return None
    valid = _is_real(value) and bool(np.isfinite(value))
    if not valid or not _in_bounds(float(value), minimum, maximum, exclusive_minimum, exclusive_maximum):
        requirement = (f"a finite number{_bounds(minimum, maximum, exclusive_minimum, exclusive_maximum)}"
                       f"{' or None' if allow_none else ''}")
        raise ValueError(f"{name} must be {requirement}. Received: {name}={value!r}")
    return float(value)


def check_seed(name, value):
    """`value` if it is `None` or an integer (a seed), else `ValueError`. Arrays and tensors pass through unchanged
    (the stateless `[2]` seeds of the samplers)."""
    if value is None or (hasattr(value, "shape") and not isinstance(value, np.generic)):
        return value
    return check_int(name, value)
