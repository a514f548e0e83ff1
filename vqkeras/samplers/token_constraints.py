"""What a sample must keep: a raster prefix, or known tokens under a mask, and a bias on the logits."""

import collections

import numpy as np
import tensorflow as tf

# The constraints as the graph samplers take them, flattened to the raster sequence of `L = h·w` positions: the
# tokens `(n, L)` int32 to keep where `mask` `(n, L)` bool is true, and `logit_bias` `(n, K)` float32.
ConstraintTensors = collections.namedtuple("ConstraintTensors", ["tokens", "mask", "logit_bias"])


def empty_constraint_tensors(num_samples, sequence_length, num_embeddings):
    """`ConstraintTensors` that keep nothing and bias nothing (graph-safe: `num_samples` may be a tensor)."""
    return ConstraintTensors(
        tokens=tf.zeros(tf.stack([num_samples, sequence_length]), tf.int32),
        mask=tf.zeros(tf.stack([num_samples, sequence_length]), tf.bool),
        logit_bias=tf.zeros(tf.stack([num_samples, num_embeddings]), tf.float32),
    )


class TokenConstraints:
    """Constraints on sampled token grids: kept tokens (a raster prefix, or any positions) and a logit bias.

    A prefix of `n` tokens is the special case `known_mask = [t < n]` of known tokens: both become one
    `(tokens, mask)` pair (`resolve`), and a kept position takes its known token instead of the draw, which is still
    made, so the random stream, and the tokens, of every other position are those of an unconstrained sample with
    the same seed. `logit_bias` is added to the logits before the sampler's filters.

    What can be checked without the prior (the pairing of the arguments, finite biases) is checked here; shapes and
    token ranges against the prior's grid and vocabulary in `resolve`.

    Args:
        prefix: Optional int array `(num_samples, n)` or `(n,)` (one prefix for all) of the first `n` raster tokens.
        known_tokens: Optional int array `(num_samples, h, w)` (or one grid for all) of tokens kept where `known_mask`.
        known_mask: Boolean array shaped like `known_tokens`; true = kept. Goes with `known_tokens`.
        logit_bias: Optional float array `(num_samples, K)` or `(K,)`; finite, or `-inf` to exclude a token.
    """

    def __init__(self, prefix=None, known_tokens=None, known_mask=None, logit_bias=None):
        if prefix is not None and known_tokens is not None:
            raise ValueError("Give either prefix or known_tokens/known_mask, not both. Received: both")
        if (known_tokens is None) != (known_mask is None):
            raise ValueError(
                "known_tokens and known_mask go together. "
                f"Received: known_tokens={'set' if known_tokens is not None else None}, "
                f"known_mask={'set' if known_mask is not None else None}"
            )
        self.prefix = None if prefix is None else np.asarray(prefix)
        self.known_tokens = None if known_tokens is None else np.asarray(known_tokens)
        self.known_mask = None if known_mask is None else np.asarray(known_mask).astype(bool)
        self.logit_bias = None if logit_bias is None else np.asarray(logit_bias, np.float32)
        if self.logit_bias is not None:
            # NaN or +inf logits, or a row without a finite one, make the categorical draw return K, not a token.
            bad = np.isnan(self.logit_bias) | np.isposinf(self.logit_bias)
            if bad.any():
                raise ValueError(f"logit_bias must be finite, or -inf to exclude a token; NaN and +inf are not "
                                 f"allowed. Received: logit_bias with {int(bad.sum())} NaN or +inf value(s)")

    def resolve(self, num_samples, sequence_length, num_embeddings):
        """Checks the constraints against a prior and returns them as `ConstraintTensors` for `num_samples` grids.

        Args:
            num_samples: Integer, the number of grids sampled.
            sequence_length: Integer `L = h·w` of the prior's grid.
            num_embeddings: Integer `K` of the prior's vocabulary.
        """
        if self.prefix is not None:
            tokens, mask = self._prefix_arrays(num_samples, sequence_length, num_embeddings)
        else:
            tokens, mask = self._known_arrays(num_samples, sequence_length, num_embeddings)
        return ConstraintTensors(
            tokens=tf.constant(np.ascontiguousarray(tokens), tf.int32),
            mask=tf.constant(np.ascontiguousarray(mask)),
            logit_bias=tf.constant(np.ascontiguousarray(self._bias_array(num_samples, num_embeddings))),
        )

    def _prefix_arrays(self, num_samples, length, k):
        prefix = self.prefix
        if prefix.ndim == 3:
            prefix = prefix.reshape(prefix.shape[0], -1)
        if prefix.ndim == 1:
            prefix = np.tile(prefix[None], [num_samples, 1])
        if prefix.ndim != 2 or prefix.shape[0] != num_samples or prefix.shape[1] > length:
            raise ValueError(
                f"prefix must have shape (num_samples={num_samples}, n) with n ≤ h·w={length}. "
                f"Received: prefix with shape {prefix.shape}"
            )
        if prefix.size and (prefix.min() < 0 or prefix.max() >= k):
            raise ValueError(f"prefix tokens must be in [0, {k}). Received values in [{prefix.min()}, {prefix.max()}]")
        n = prefix.shape[1]
        tokens = np.zeros([num_samples, length], np.int32)
        tokens[:, :n] = prefix
        return tokens, np.broadcast_to(np.arange(length)[None] < n, (num_samples, length))

    def _known_arrays(self, num_samples, length, k):
        if self.known_tokens is None:
            return np.zeros([num_samples, length], np.int32), np.zeros([num_samples, length], bool)
        tokens = np.broadcast_to(self.known_tokens.reshape(-1, length), (num_samples, length))
        mask = np.broadcast_to(self.known_mask.reshape(-1, length), (num_samples, length))
        if tokens.min() < 0 or tokens.max() >= k:
            raise ValueError(f"known_tokens must be in [0, {k}). Received values in [{tokens.min()}, {tokens.max()}]")
        return tokens, mask

    def _bias_array(self, num_samples, k):
        if self.logit_bias is None:
            return np.zeros([num_samples, k], np.float32)
        bias = np.broadcast_to(self.logit_bias.reshape(-1, k), (num_samples, k))
        excluded = np.isneginf(bias).all(axis=-1)
        if excluded.any():
            raise ValueError(f"logit_bias excludes every one of the K={k} tokens (all -inf) in sample(s) "
                             f"{np.flatnonzero(excluded).tolist()[:10]}: leave at least one finite. "
                             f"Received: logit_bias with an all -inf row")
        return bias
