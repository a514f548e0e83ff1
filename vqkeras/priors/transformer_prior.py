"""Decoder-only transformer prior over token grids, sampled with a KV cache."""

import keras
import tensorflow as tf

from vqkeras.priors.base_transformer_prior import BaseTransformerPrior


@keras.saving.register_keras_serializable(package="vqkeras")
class TransformerPrior(BaseTransformerPrior):
    """Autoregressive transformer prior over a grid of code indices (the VQ-GAN prior, Esser et al. 2021, sec. 3.2).

    The `(h, w)` grid is read in raster order as `x_1 … x_L`, `L = h·w`, and modelled as

    `p(x | c) = Π_t p(x_t | x_<t, c)`.

    The input sequence is the target shifted right by one: `[s, x_1, …, x_{L−1}]`, where `s` is a learned start
    token (or, with `num_classes`, the embedding of the class `c`). Each position gets a learned positional embedding;
    `num_layers` pre-norm causal `TransformerBlock`s, a final LayerNorm and a linear head give logits over `K` codes.
    Training minimises `−(1/L) Σ_t log p(x_t | x_<t, c)`.

    `sample` decodes with a key/value cache of fixed shape `[num_layers, batch, heads, L, head_dim]`, so each new
    token costs one single-token forward pass; `sample_recompute` reruns the full sequence at every step (same
    results, used as a reference and a benchmark baseline).

    Args:
        num_embeddings: Integer. Vocabulary size `K` (the tokenizer's codebook size).
        grid_shape: Tuple `(h, w)` of the token grid.
        embed_dim, num_layers, num_heads, mlp_ratio, dropout, layer_norm_epsilon: The transformer's width, depth,
            heads, MLP ratio, dropout and LayerNorm epsilon, documented in `BaseTransformerPrior` (defaults `256`,
            `4`, `8`, `4.0`, `0.1`, `1e-5`).
        num_classes: Optional integer. Class-conditioned prior: the first input token is the class embedding.
        **kwargs: Base model arguments.

    Call arguments:
        inputs: Int tokens `(batch, h, w)` or `(batch, h·w)`; or `(tokens, labels)` / `{"tokens", "labels"}`.
        training: Boolean. Enables dropout.

    Returns:
        Float32 next-token logits `(batch, h, w, K)` (or `(batch, h·w, K)`): entry `t` predicts `x_t` from `x_<t`.

    Example:

    >>> prior = TransformerPrior(num_embeddings=512, grid_shape=(8, 8), embed_dim=64, num_layers=2, num_heads=4)
    >>> prior.compile(optimizer="adam")
    >>> prior.fit(token_grids_dataset, epochs=10)
    >>> grids = prior.sample(4, temperature=0.9, top_k=100, seed=1)   # int32 (4, 8, 8)
    """

    def __init__(self, num_embeddings, grid_shape, embed_dim=256, num_layers=4, num_heads=8, mlp_ratio=4.0,
                 dropout=0.1, num_classes=None, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(
            num_embeddings, grid_shape, embed_dim=embed_dim, num_layers=num_layers, num_heads=num_heads,
            mlp_ratio=mlp_ratio, dropout=dropout, causal=True, num_classes=num_classes,
            layer_norm_epsilon=layer_norm_epsilon, **kwargs,
        )
        self.start_token = self.num_embeddings  # index K of the token embedding
        self.build()

    # ------------------------------------------------------------------ full sequence
    def _embed(self, tokens, labels, training=None):
        """Shift right, embed tokens, add positions: `[s|c, x_1, …, x_{L−1}] + P`."""
        batch = tf.shape(tokens)[0]
        if self.class_embedding is not None:
            first = self.class_embedding(labels)[:, None, :]
        else:
            first = self.token_embedding(tf.fill([batch, 1], self.start_token))
        rest = self.token_embedding(tokens[:, :-1])
        x = tf.concat([first, rest], axis=1)
        x = x + self.position_embedding(tf.range(self.sequence_length))[None]
        return self.embedding_dropout(x, training=training)

    def _hidden(self, tokens, labels, training=None):
        x = self._embed(tokens, labels, training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return x

    def _forward(self, tokens, labels, training=None):
        x = self.final_norm(self._hidden(tokens, labels, training=training))
        return tf.cast(self.head(x), tf.float32)

    # ------------------------------------------------------------------ sampling
    _default_sample_mode = "cache"

    def _initial_sample_state(self, num_samples, mode):
        if mode != "cache":
            return ()
        shape = tf.stack([self.num_layers, num_samples, self.num_heads, self.sequence_length, self.head_dim])
        return (tf.zeros(shape, self.compute_dtype), tf.zeros(shape, self.compute_dtype))

    def _step_logits(self, tokens, position, labels, state, mode):
        if mode == "recompute":
            # Full forward pass over all L positions; the causal mask hides the not-yet-sampled ones.
            hidden = self._hidden(tokens, labels, training=False)
            hidden = tf.gather(hidden, position, axis=1)
            return self.head(self.final_norm(hidden)), state

        # KV cache: embed only the input token at `position` (x_{t−1}, or s / c at t = 0).
        key_cache, value_cache = state
        batch = tf.shape(tokens)[0]
        previous = tf.gather(tokens, tf.maximum(position - 1, 0), axis=1)
        previous = tf.where(position > 0, previous, tf.fill([batch], self.start_token))
        x = self.token_embedding(previous)
        if self.class_embedding is not None:
            x = tf.where(position > 0, x, self.class_embedding(labels))
        x = x + self.position_embedding(position)[None]
        x = x[:, None, :]
        for index, block in enumerate(self.blocks):
            x, key_cache, value_cache = block.call_cached(x, key_cache, value_cache, index, position)
        logits = self.head(self.final_norm(x[:, 0]))
        return logits, (key_cache, value_cache)

    def sample_recompute(self, num_samples, sampler=None, **kwargs):
        """Same as `sample` (same arguments), but reruns the full sequence at every position (no KV cache).

        Gives the same logits (to float round-off) and, for the same seed, the same tokens as `sample`; it costs
        `O(L)` times more compute. Used as the reference in tests and the baseline in `benchmarks/sampling.py`.
        """
        return self._sample("recompute", num_samples, sampler, **kwargs)
