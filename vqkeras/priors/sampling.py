"""Sampling filters for token priors: temperature, top-k, top-p (nucleus), and a seeded categorical draw.

All functions are pure TensorFlow and work on logits of shape `(..., K)`, eagerly or inside `tf.function`.
Filtered-out entries are set to `-inf`, so `softmax` gives them probability exactly 0.

Python-number arguments are validated (`ValueError` naming the argument and its value); tensor arguments are not,
so the graph sampling code of the priors can pass tensors without Python-side checks. In the tensor form,
`top_k <= 0` (or `>= K`) and `top_p >= 1` mean "no filtering".
"""

import numbers

import numpy as np
import tensorflow as tf

from vqkeras.utils.validation import check_seed


def _is_python_number(value):
    return isinstance(value, (numbers.Number, np.number)) and not isinstance(value, bool)


def _check_number_or_tensor(name, value):
    """Raises `ValueError` unless `value` is a real number (not a bool) or a tensor: strings and bools fail here, not
    deep in TensorFlow."""
    if not (_is_python_number(value) and np.isreal(value)) and not tf.is_tensor(value):
        raise ValueError(f"{name} must be a number or a tensor. Received: {name}={value!r}")


def validate_temperature(temperature):
    """Raises `ValueError` unless `temperature` is `> 0` (Python numbers only; tensors pass through)."""
    if temperature is None:
        raise ValueError("temperature must be a float > 0. Received: temperature=None")
    _check_number_or_tensor("temperature", temperature)
    if _is_python_number(temperature) and not (temperature > 0 and np.isfinite(temperature)):
        raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")


def validate_top_k(top_k, num_embeddings=None):
    """Raises `ValueError` unless `top_k` is `None` or an integer in `[1, K]` (Python numbers only)."""
    if top_k is None:
        return
    _check_number_or_tensor("top_k", top_k)
    if not _is_python_number(top_k):
        return
    if int(top_k) != top_k:
        raise ValueError(f"top_k must be an integer in [1, K]. Received: top_k={top_k}")
    upper = num_embeddings if num_embeddings is not None else np.inf
    if not 1 <= top_k <= upper:
        raise ValueError(f"top_k must be in [1, K={num_embeddings}]. Received: top_k={top_k}")


def validate_top_p(top_p):
    """Raises `ValueError` unless `top_p` is `None` or in `(0, 1]` (Python numbers only)."""
    if top_p is None:
        return
    _check_number_or_tensor("top_p", top_p)
    if not _is_python_number(top_p):
        return
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1]. Received: top_p={top_p}")


def _flatten(logits):
    logits = tf.convert_to_tensor(logits)
    shape = tf.shape(logits)
    return tf.reshape(logits, [-1, shape[-1]]), shape


def _ranks(logits_2d):
    """Descending rank of each entry along the last axis (0 = largest; ties broken by index)."""
    order = tf.argsort(logits_2d, axis=-1, direction="DESCENDING", stable=True)
    return order, tf.argsort(order, axis=-1, stable=True)


def apply_temperature(logits, temperature):
    """Divides logits by the temperature: `softmax(l / T)`.

    `T < 1` sharpens the distribution, `T > 1` flattens it, `T = 1` leaves it unchanged.

    Args:
        logits: Float tensor `(..., K)`.
        temperature: Float `> 0` (Python number or scalar tensor).

    Returns:
        `logits / temperature`, same shape and dtype.
    """
    validate_temperature(temperature)
    logits = tf.convert_to_tensor(logits)
    return logits / tf.cast(temperature, logits.dtype)


def top_k_filter(logits, k):
    """Keeps exactly the `k` largest logits of each row and sets the others to `-inf`.

    Ties are broken by index (lower index first), so exactly `min(k, K)` entries survive.

    Args:
        logits: Float tensor `(..., K)`.
        k: Integer in `[1, K]`. As a tensor, `k <= 0` or `k >= K` keeps everything.

    Returns:
        The filtered logits, same shape and dtype.
    """
    logits = tf.convert_to_tensor(logits)
    validate_top_k(k, logits.shape[-1])
    flat, shape = _flatten(logits)
    num = tf.shape(flat)[-1]
    k = tf.cast(k, tf.int32)
    k = tf.where(k <= 0, num, tf.minimum(k, num))
    _, ranks = _ranks(flat)
    keep = ranks < k
    filtered = tf.where(keep, flat, tf.constant(-np.inf, flat.dtype))
    return tf.reshape(filtered, shape)


def top_p_filter(logits, p):
    """Nucleus filter: keeps the smallest set of most likely tokens whose probability mass is `≥ p`.

    With probabilities sorted in decreasing order `π_(1) ≥ π_(2) ≥ …`, the token of rank `i` is kept iff
    `Σ_{j<i} π_(j) < p` (Holtzman et al. 2020). The most likely token is always kept.

    Args:
        logits: Float tensor `(..., K)`.
        p: Float in `(0, 1]`. As a tensor, `p >= 1` keeps everything.

    Returns:
        The filtered logits, same shape and dtype.
    """
    validate_top_p(p)
    logits = tf.convert_to_tensor(logits)
    flat, shape = _flatten(logits)
    order, ranks = _ranks(flat)
    probs = tf.nn.softmax(tf.cast(flat, tf.float32), axis=-1)
    sorted_probs = tf.gather(probs, order, batch_dims=1)
    mass_before = tf.math.cumsum(sorted_probs, axis=-1, exclusive=True)
    p = tf.cast(p, tf.float32)
    keep_sorted = tf.logical_or(mass_before < p, p >= 1.0)
    keep_sorted = tf.logical_or(keep_sorted, tf.range(tf.shape(flat)[-1]) == 0)
    keep = tf.gather(keep_sorted, ranks, batch_dims=1)
    filtered = tf.where(keep, flat, tf.constant(-np.inf, flat.dtype))
    return tf.reshape(filtered, shape)


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """Temperature, then top-k, then top-p. `None` (or a tensor `top_k <= 0`, `top_p >= 1`) skips a filter."""
    logits = apply_temperature(tf.cast(logits, tf.float32), temperature)
    if top_k is not None:
        if _is_python_number(top_k):
            logits = top_k_filter(logits, top_k)
        else:
            top_k = tf.cast(top_k, tf.int32)
            logits = tf.cond(top_k > 0, lambda: top_k_filter(logits, top_k), lambda: logits)
    if top_p is not None:
        if _is_python_number(top_p):
            logits = top_p_filter(logits, top_p)
        else:
            top_p = tf.cast(top_p, tf.float32)
            logits = tf.cond(top_p < 1.0, lambda: top_p_filter(logits, top_p), lambda: logits)
    return logits


def validate_guidance_scale(guidance_scale):
    """Raises `ValueError` unless `guidance_scale` is a float `≥ 0` (Python numbers only; tensors pass through)."""
    if not (_is_python_number(guidance_scale) or tf.is_tensor(guidance_scale)) or (
            _is_python_number(guidance_scale) and not (guidance_scale >= 0 and np.isfinite(guidance_scale))):
        raise ValueError(f"guidance_scale must be a float ≥ 0. Received: guidance_scale={guidance_scale}")


def guided_logits(logits, guide_logits, guidance_scale):
    """Guidance by a weaker model (autoguidance, Karras et al. 2024; contrastive decoding, Li et al. 2023).

    With `log p` the model's and `log q` the guide's log-probabilities over the `K` codes,

    `l = log p + w · (log p − log q) = (1 + w) log p − w log q`,

    so `softmax(l) ∝ p · (p / q)^w`: codes the model prefers more strongly than its weaker guide gain mass. `w = 0`
    gives back `log p` (the model alone); a guide equal to the model leaves `p` unchanged for every `w`.

    Args:
        logits: Float tensor `(..., K)`, the model's logits.
        guide_logits: Float tensor `(..., K)`, the guide's logits at the same positions.
        guidance_scale: Float `w ≥ 0` (Python number or scalar tensor).

    Returns:
        Float32 guided logits, same shape.
    """
    validate_guidance_scale(guidance_scale)
    log_p = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    log_q = tf.nn.log_softmax(tf.cast(guide_logits, tf.float32), axis=-1)
    return log_p + tf.cast(guidance_scale, tf.float32) * (log_p - log_q)


def make_seed(seed):
    """Turns `None`, an integer or a shape-`[2]` tensor into a shape-`[2]` int64 seed tensor for stateless ops.

    `None` draws a fresh seed from NumPy's global generator.
    """
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    seed = check_seed("seed", seed)
    if _is_python_number(seed):
        return tf.constant([0, int(seed)], dtype=tf.int64)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank is not None and seed.shape.as_list() not in ([2], [None]):
        raise ValueError(f"seed must be an integer or a tensor of shape [2]. Received: seed with shape {seed.shape}")
    return seed


def sample_logits(logits, temperature=1.0, top_k=None, top_p=None, seed=None):
    """Draws one token per row of `logits` after temperature, top-k and top-p filtering.

    `x ~ Categorical(softmax(filter(l / T)))`, drawn with `tf.random.stateless_categorical`: the same `seed` and
    logits always give the same tokens.

    Args:
        logits: Float tensor `(..., K)`.
        temperature: Float `> 0`. Defaults to `1.0`.
        top_k: Optional integer in `[1, K]`.
        top_p: Optional float in `(0, 1]`.
        seed: Optional integer or int tensor of shape `[2]`. `None` draws a fresh seed.

    Returns:
        Int32 tensor of shape `logits.shape[:-1]`.

    Example:

    >>> sample_logits(tf.math.log([[0.1, 0.9]]), top_k=1, seed=0).numpy()
    array([1], dtype=int32)
    """
    logits = tf.convert_to_tensor(logits)
    validate_temperature(temperature)
    validate_top_k(top_k, logits.shape[-1])
    validate_top_p(top_p)
    filtered = filter_logits(logits, temperature, top_k, top_p)
    flat, shape = _flatten(filtered)
    tokens = tf.random.stateless_categorical(flat, 1, seed=make_seed(seed), dtype=tf.int32)
    return tf.reshape(tokens, shape[:-1])
