"""A small causal model of a token grid, trained inside the tokenizer so that its codes are easier to predict."""

import keras
import tensorflow as tf

from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class CausalCodePredictor(keras.layers.Layer):
    """Predicts each code of a latent grid from the codes before it in raster order.

    The grid `(b, h, w, d)` is read as a sequence of `h·w` vectors in raster order and shifted one step right (a zero
    vector first), so the logits at position `t` depend only on the vectors at `0 … t − 1`. Then come `num_layers`
    causal 1-D convolutions of `kernel_size` taps (GELU) and a dense layer to `num_embeddings` logits: position `t`
    sees the `num_layers·(kernel_size − 1) + 1` positions before it (15 by default: on a grid up to 7 wide, the
    row above and more).

    It is a cheap stand-in for the prior, trained jointly with the tokenizer: `VQVAE(code_prediction_weight=μ)`
    adds `μ` times its cross-entropy against the soft code assignments to the quantizer's loss, so the encoder is
    pulled towards codes that the context predicts (a lower *conditional* rate, which is what an autoregressive prior
    pays), after LARP (Wang et al. 2024, "LARP: Tokenizing Videos with a Learned Autoregressive Generative Prior").

    Args:
        num_embeddings: Integer. The codebook size `K`: the number of logits per position.
        hidden_dim: Integer. Channels of the convolutions. Defaults to `64`.
        num_layers: Integer ≥ 1. Causal convolutions. Defaults to `2`.
        kernel_size: Integer ≥ 1. Taps of each convolution. Defaults to `8`.
        **kwargs: Base layer arguments.

    Call arguments:
        latents: Float tensor `(batch, h, w, d)`, typically the quantized latents.

    Returns:
        Float32 logits `(batch, h, w, num_embeddings)`; position `(i, j)` depends only on raster-earlier positions.
    """

    def __init__(self, num_embeddings, hidden_dim=64, num_layers=2, kernel_size=8, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings = check_int("num_embeddings", num_embeddings, minimum=2)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        self.num_layers = check_int("num_layers", num_layers, minimum=1)
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        self.convs = [
            keras.layers.Conv1D(self.hidden_dim, self.kernel_size, padding="causal", activation="gelu",
                                dtype=self.dtype_policy, name=f"conv_{i}")
            for i in range(self.num_layers)
        ]
        self.head = keras.layers.Dense(self.num_embeddings, dtype="float32", name="head")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[3] is None:
            raise ValueError(
                "CausalCodePredictor needs latents (batch, h, w, d) with a static depth d. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        shape = (input_shape[0], None, input_shape[3])
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.head.build(shape)

    def call(self, latents):
        batch, height, width = tf.shape(latents)[0], tf.shape(latents)[1], tf.shape(latents)[2]
        x = tf.reshape(latents, (batch, height * width, latents.shape[-1]))
        x = tf.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0]])  # position t sees 0 … t − 1
        for conv in self.convs:
            x = conv(x)
        logits = self.head(tf.cast(x, "float32"))
        return tf.reshape(logits, (batch, height, width, self.num_embeddings))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.num_embeddings)

    def get_config(self):
        return {
            **super().get_config(),
            "num_embeddings": self.num_embeddings,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "kernel_size": self.kernel_size,
        }
