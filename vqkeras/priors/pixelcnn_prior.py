"""Gated PixelCNN prior over token grids (the VQ-VAE paper's prior)."""

import keras
import tensorflow as tf

from vqkeras.priors.base_prior import BasePrior
from vqkeras.priors.gated_pixelcnn_block import GatedPixelCNNBlock
from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class PixelCNNPrior(BasePrior):
    """Gated PixelCNN prior over a grid of code indices (van den Oord et al. 2016; used as the prior in VQ-VAE,
    van den Oord et al. 2017, sec. 4).

    Models `p(x | c) = Π_{(i,j)} p(x_ij | x_<(i,j), c)` in raster order. Tokens are embedded to `embed_dim`
    channels and passed through one type-A `GatedPixelCNNBlock` and `num_layers − 1` type-B blocks; the horizontal
    stack then goes through `ReLU → 1×1 conv → ReLU → 1×1 conv` to logits over `K` codes.

    The vertical/horizontal stacks have no blind spot. The receptive field grows by `⌊k/2⌋` rows and columns per
    layer: position `(i, j)` sees the whole previous raster context when `num_layers · ⌊k/2⌋ ≥ max(h, w) − 1`.

    Sampling runs one full forward pass per position, in raster order, in a `tf.while_loop` (no cache).

    Args:
        num_embeddings: Integer. Vocabulary size `K`.
        grid_shape: Tuple `(h, w)` of the token grid.
        embed_dim: Integer. Channels of the stacks. Defaults to `64`.
        num_layers: Integer ≥ 1. Gated layers (the first is type A). Defaults to `8`.
        kernel_size: Odd integer ≥ 3. Defaults to `5`.
        hidden_dim: Integer. Width of the output 1×1 convolution. Defaults to `2 · embed_dim`.
        num_classes: Optional integer. Class conditioning by a class-dependent gate bias.
        **kwargs: Base model arguments.

    Call arguments:
        inputs: Int tokens `(batch, h, w)` or `(batch, h·w)`; or `(tokens, labels)` / `{"tokens", "labels"}`.
        training: Boolean (unused; no dropout).

    Returns:
        Float32 next-token logits `(batch, h, w, K)` (or `(batch, h·w, K)`).

    Example:

    >>> prior = PixelCNNPrior(num_embeddings=512, grid_shape=(8, 8), embed_dim=64, num_layers=6)
    >>> prior.compile(optimizer="adam")
    >>> prior.fit(token_grids_dataset, epochs=10)
    >>> grids = prior.sample(4, seed=1)   # int32 (4, 8, 8)
    """

    def __init__(
        self,
        num_embeddings,
        grid_shape,
        embed_dim=64,
        num_layers=8,
        kernel_size=5,
        hidden_dim=None,
        num_classes=None,
        **kwargs,
    ):
        super().__init__(num_embeddings, grid_shape, num_classes=num_classes, **kwargs)
        self.embed_dim = check_int("embed_dim", embed_dim, minimum=1)
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=3)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1, allow_none=True)

        self.token_embedding = keras.layers.Embedding(self.num_embeddings, self.embed_dim, name="token_embedding")
        self.gated_blocks = [
            GatedPixelCNNBlock(
                "A" if i == 0 else "B", kernel_size=self.kernel_size, num_classes=self.num_classes, name=f"gated_{i}"
            )
            for i in range(self.num_layers)
        ]
        self.output_hidden = keras.layers.Dense(self.hidden_dim or 2 * self.embed_dim, activation="relu",
                                                name="output_hidden")
        self.head = keras.layers.Dense(self.num_embeddings, name="head")
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        grid = (None, *self.grid_shape, self.embed_dim)
        self.token_embedding.build((None, *self.grid_shape))
        for block in self.gated_blocks:
            block.build(grid)
        self.output_hidden.build(grid)
        self.head.build((None, *self.grid_shape, self.hidden_dim or 2 * self.embed_dim))
        self.built = True

    def _hidden(self, tokens, labels):
        x = self.token_embedding(tf.reshape(tokens, [-1, *self.grid_shape]))
        vertical, horizontal = x, x
        for block in self.gated_blocks:
            vertical, horizontal = block(vertical, horizontal, labels=labels)
        hidden = self.output_hidden(tf.nn.relu(horizontal))
        return tf.reshape(hidden, [-1, self.sequence_length, hidden.shape[-1]])

    def _forward(self, tokens, labels, training=None):
        return tf.cast(self.head(self._hidden(tokens, labels)), tf.float32)

    def _step_logits(self, tokens, position, labels, state, mode):
        # One full forward pass; positions ≥ t hold placeholders the masks keep out of position t.
        hidden = tf.gather(self._hidden(tokens, labels), position, axis=1)
        return self.head(hidden), state

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embed_dim": self.embed_dim,
                "num_layers": self.num_layers,
                "kernel_size": self.kernel_size,
                "hidden_dim": self.hidden_dim,
            }
        )
        return config
