"""Pre-norm transformer block: self-attention and MLP, each in a residual branch."""

import keras

from vqkeras.priors.self_attention import SelfAttention
from vqkeras.utils.removed_options import pop_removed_option
from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer block (GPT-2 / Xiong et al. 2020 ordering).

    `x ← x + Dropout(Attn(LN(x)))`,  `x ← x + Dropout(W₂ σ(W₁ LN(x)))`, with `σ` the exact (erf) GELU.

    With `causal=True` it is a decoder block (autoregressive priors); with `causal=False` a bidirectional encoder
    block (masked priors such as MaskGIT).

    Args:
        num_heads: Integer. Attention heads; must divide the model width.
        mlp_ratio: Float. Hidden width of the MLP as a multiple of the model width. Defaults to `4.0`.
        dropout: Float in `[0, 1)`. Dropout after attention and MLP, and on the attention weights.
        causal: Boolean. Causal self-attention. Defaults to `True`.
        layer_norm_epsilon: Float. Defaults to `1e-5`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: Float tensor `(batch, seq, dim)`.
        training: Boolean. Enables dropout (on the attention weights and both residual branches).

    Returns:
        Float tensor `(batch, seq, dim)`: the inputs plus the attention and MLP branches.

    Example:

    >>> block = TransformerBlock(num_heads=4, causal=False)  # a bidirectional (MaskGIT) block
    >>> block(keras.random.normal((2, 10, 32))).shape
    TensorShape([2, 10, 32])
    """

    def __init__(self, num_heads, mlp_ratio=4.0, dropout=0.0, causal=True, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**pop_removed_option(kwargs, "mlp_activation", "gelu"))
        self.mlp_ratio = check_float("mlp_ratio", mlp_ratio, minimum=0, exclusive_minimum=True)
        self.dropout = check_float("dropout", dropout, minimum=0, maximum=1, exclusive_maximum=True)
        self.layer_norm_epsilon = check_float("layer_norm_epsilon", layer_norm_epsilon, minimum=0,
                                              exclusive_minimum=True)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.causal = check_bool("causal", causal)
        self.attention = SelfAttention(num_heads, dropout=dropout, causal=causal, name="attention")

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.attention_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="attention_norm")
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="mlp_norm")
        self.mlp_hidden = keras.layers.Dense(int(round(dim * self.mlp_ratio)), name="mlp_hidden")
        self.mlp_output = keras.layers.Dense(dim, name="mlp_output")
        self.attention_dropout = keras.layers.Dropout(self.dropout)
        self.mlp_dropout = keras.layers.Dropout(self.dropout)
        shape = tuple(input_shape)
        self.attention_norm.build(shape)
        self.attention.build(shape)
        self.mlp_norm.build(shape)
        self.mlp_hidden.build(shape)
        self.mlp_output.build(shape[:-1] + (int(round(dim * self.mlp_ratio)),))

    def _mlp(self, x, training=None):
        hidden = keras.activations.gelu(self.mlp_hidden(self.mlp_norm(x)), approximate=False)
        return self.mlp_dropout(self.mlp_output(hidden), training=training)

    def call(self, inputs, training=None):
        x = inputs + self.attention_dropout(self.attention(self.attention_norm(inputs), training=training),
                                            training=training)
        return x + self._mlp(x, training=training)

    def call_cached(self, inputs, key_cache, value_cache, layer_index, position):
        """One decoding step for the token at `position`; see `SelfAttention.call_cached`.

        Returns:
            `(outputs, key_cache, value_cache)` with outputs `(batch, 1, dim)`.
        """
        attended, key_cache, value_cache = self.attention.call_cached(
            self.attention_norm(inputs), key_cache, value_cache, layer_index, position
        )
        x = inputs + attended
        return x + self._mlp(x), key_cache, value_cache

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio,
                "dropout": self.dropout,
                "causal": self.causal,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
