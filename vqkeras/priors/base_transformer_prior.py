"""The transformer shared by the autoregressive and the MaskGIT priors."""

import keras

from vqkeras.priors.base_prior import BasePrior
from vqkeras.priors.transformer_block import TransformerBlock
from vqkeras.utils.removed_options import pop_removed_option
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


class BaseTransformerPrior(BasePrior):
    """A `BasePrior` whose network is a pre-norm transformer over the `L = h·w` token positions.

    Layers: a token embedding of the `K` codes plus one special token (index `K`: the start token of the
    autoregressive prior, the [MASK] token of MaskGIT), an optional class embedding, learned positional embeddings
    (normal, σ = 0.02), `num_layers` `TransformerBlock`s (causal or not), a final LayerNorm and a linear head to `K`
    logits. Subclasses decide how tokens enter and how the logits are read. The defaults below are those of
    `TransformerPrior` and `MaskGITPrior`, which document their arguments here.

    Args:
        num_embeddings: Integer. Vocabulary size `K`.
        grid_shape: Tuple `(h, w)` of the token grid.
        embed_dim: Integer. Model width. Defaults to `256`.
        num_layers: Integer. Number of transformer blocks. Defaults to `4`.
        num_heads: Integer. Attention heads; must divide `embed_dim`. Defaults to `8`.
        mlp_ratio: Float. MLP width as a multiple of `embed_dim`. Defaults to `4.0`.
        dropout: Float in `[0, 1)`. Dropout on embeddings, attention weights and residual branches. Defaults to `0.1`.
        causal: Boolean. Causal self-attention (set by the subclass).
        num_classes: Optional integer. Number of classes of a class-conditioned prior.
        layer_norm_epsilon: Float. Defaults to `1e-5`.
        **kwargs: Base model arguments.
    """

    def __init__(self, num_embeddings, grid_shape, embed_dim, num_layers, num_heads, mlp_ratio, dropout, causal,
                 num_classes=None, layer_norm_epsilon=1e-5, **kwargs):
        kwargs = pop_removed_option(kwargs, "mlp_activation", "gelu")
        super().__init__(num_embeddings, grid_shape, num_classes=num_classes, **kwargs)
        self.embed_dim = check_int("embed_dim", embed_dim, minimum=1)
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim must be divisible by num_heads. Received: embed_dim={embed_dim}, num_heads={num_heads}"
            )
        self.head_dim = self.embed_dim // self.num_heads
        self.mlp_ratio = check_float("mlp_ratio", mlp_ratio, minimum=0, exclusive_minimum=True)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        self.layer_norm_epsilon = check_float("layer_norm_epsilon", layer_norm_epsilon, minimum=0,
                                              exclusive_minimum=True)

        self.token_embedding = keras.layers.Embedding(self.num_embeddings + 1, self.embed_dim, name="token_embedding")
        self.class_embedding = (
            keras.layers.Embedding(self.num_classes, self.embed_dim, name="class_embedding")
            if self.num_classes is not None
            else None
        )
        self.position_embedding = keras.layers.Embedding(
            self.sequence_length,
            self.embed_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(self.dropout)
        self.blocks = [
            TransformerBlock(
                self.num_heads,
                mlp_ratio=self.mlp_ratio,
                dropout=self.dropout,
                causal=causal,
                layer_norm_epsilon=self.layer_norm_epsilon,
                name=f"block_{i}",
            )
            for i in range(self.num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="final_norm")
        self.head = keras.layers.Dense(self.num_embeddings, name="head")

    def build(self, input_shape=None):
        if self.built:
            return
        hidden = (None, self.sequence_length, self.embed_dim)
        self.token_embedding.build((None, self.sequence_length))
        if self.class_embedding is not None:
            self.class_embedding.build((None,))
        self.position_embedding.build((self.sequence_length,))
        for block in self.blocks:
            block.build(hidden)
        self.final_norm.build(hidden)
        self.head.build(hidden)
        self.built = True

    def get_config(self):
        config = {
            "embed_dim": self.embed_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
        return {**super().get_config(), **config}
