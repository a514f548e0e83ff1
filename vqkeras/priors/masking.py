"""Pure functions of masked-token modelling (MaskGIT): the cosine schedule, random masks and the masked loss.

All functions are TensorFlow ops that work eagerly and inside `tf.function`.
"""

import math

import tensorflow as tf


def cosine_schedule(ratio):
    """MaskGIT's mask schedule `γ(r) = cos(π r / 2)`: the fraction of tokens masked at progress `r ∈ [0, 1]`.

    `γ(0) = 1` (everything masked), `γ(1) = 0` (nothing masked); decreasing and concave (Chang et al. 2022, sec. 3.3).

    Args:
        ratio: Float tensor of any shape, values in `[0, 1]`.

    Returns:
        Float32 tensor shaped like `ratio`.
    """
    return tf.cos(0.5 * math.pi * tf.cast(ratio, tf.float32))


def num_masked_for_ratio(mask_ratio, sequence_length):
    """Number of tokens masked in training for a mask ratio: `clip(⌈γ·N⌉, 1, N)` (at least one target).

    Args:
        mask_ratio: Float tensor `(batch,)` of ratios `γ ∈ [0, 1]`.
        sequence_length: Integer `N`.

    Returns:
        Int32 tensor `(batch,)`.
    """
    count = tf.math.ceil(tf.cast(mask_ratio, tf.float32) * float(sequence_length))
    return tf.cast(tf.clip_by_value(count, 1.0, float(sequence_length)), tf.int32)


def lowest_scores_mask(scores, count):
    """Boolean mask of the `count[b]` lowest `scores[b]` of each row (ties broken by index, so the count is exact).

    Args:
        scores: Float tensor `(batch, N)`.
        count: Int tensor `(batch,)` with values in `[0, N]`.

    Returns:
        Bool tensor `(batch, N)` with exactly `count[b]` true entries in row `b`.
    """
    order = tf.argsort(scores, axis=-1, stable=True)
    ranks = tf.argsort(order, axis=-1, stable=True)
    return ranks < tf.cast(count, tf.int32)[:, None]


def mask_for_ratio(scores, mask_ratio):
    """Training mask for given random scores: the `clip(⌈γ·N⌉, 1, N)` positions with the lowest scores.

    With i.i.d. uniform scores this masks a uniformly random subset of that size.

    Args:
        scores: Float tensor `(batch, N)`, e.g. uniform noise.
        mask_ratio: Float tensor `(batch,)` of ratios `γ`.

    Returns:
        Bool tensor `(batch, N)`; true = masked (to be predicted).
    """
    length = scores.shape[-1]
    return lowest_scores_mask(scores, num_masked_for_ratio(mask_ratio, length))


def masked_cross_entropy(logits, targets, mask):
    """Cross-entropy averaged over the masked positions only: `L = −Σ m_i log p(x_i | x_M̄) / Σ m_i`.

    Positions with `m_i = 0` contribute nothing (neither to the sum nor to the count).

    Args:
        logits: Float tensor `(batch, N, K)`.
        targets: Int tensor `(batch, N)`.
        mask: Bool or float tensor `(batch, N)`; true / 1 = masked (a target).

    Returns:
        Float32 scalar.
    """
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(targets, tf.int32), logits=tf.cast(logits, tf.float32)
    )
    weights = tf.cast(mask, tf.float32)
    return tf.reduce_sum(per_token * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def remaining_masked(num_unknown, step, steps):
    """How many of the `num_unknown` tokens stay masked after decoding step `step` (0-based) of `steps`.

    `⌊U · γ((t + 1) / T)⌋`, so it is `0` after the last step.

    Args:
        num_unknown: Int tensor `(batch,)`, the tokens to decode `U`.
        step: Scalar int tensor `t`.
        steps: Scalar int tensor `T`.

    Returns:
        Int32 tensor `(batch,)`.
    """
    ratio = tf.cast(step + 1, tf.float32) / tf.cast(steps, tf.float32)
    count = tf.floor(tf.cast(num_unknown, tf.float32) * cosine_schedule(ratio))
    count = tf.where(step + 1 >= steps, tf.zeros_like(count), count)
    return tf.cast(count, tf.int32)
