"""Gated PixelCNN layer with vertical and horizontal stacks (no blind spot)."""

import keras
import tensorflow as tf

from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class GatedPixelCNNBlock(keras.layers.Layer):
    """One gated PixelCNN layer (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

    Two stacks keep the receptive field free of the classic PixelCNN blind spot:

    - the **vertical** stack convolves a `(⌊k/2⌋+1) × k` window of rows `≤ i` (every column `j ± ⌊k/2⌋`);
    - the **horizontal** stack convolves a `1 × (⌊k/2⌋+1)` window of row `i`, columns `≤ j`. A type-**A** layer
      (the first) masks the centre column, so it sees columns `< j` only; type **B** layers include `j`.
    - The vertical features are shifted down by one row before they join the horizontal stack, so position `(i, j)`
      receives the rows `< i`, *including those right of `j`*, which a single masked convolution misses.

    Gated activation (eq. 2–4), with an optional class embedding `V c`:

    `y = tanh(W_f ∗ x + V_f c) ⊙ σ(W_g ∗ x + V_g c)`,

    `v' = gate(W_v ∗ v)`,  `h' = W_o gate(W_h ∗ h + W_{v→h} shift_down(W_v ∗ v)) + h` (residual in type B only).

    Args:
        mask_type: String, `"A"` (first layer) or `"B"`.
        kernel_size: Odd integer `k ≥ 3`.
        num_classes: Optional integer. Adds a class-dependent bias to both gates.
        **kwargs: Base layer arguments.

    Call arguments:
        vertical: Float tensor `(batch, h, w, dim)`.
        horizontal: Float tensor `(batch, h, w, dim)`.
        labels: Int tensor `(batch,)`, required iff `num_classes` is set.

    Returns:
        `(vertical, horizontal)` outputs, same shapes as the inputs.

    Example:

    >>> block = GatedPixelCNNBlock("A", kernel_size=3)
    >>> x = keras.random.normal((2, 8, 8, 16))
    >>> v, h = block(x, x)
    """

    def __init__(self, mask_type, kernel_size=5, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B'. Received: mask_type={mask_type!r}")
        if check_int("kernel_size", kernel_size, minimum=3) % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 3. Received: kernel_size={kernel_size!r}")
        self.mask_type = mask_type
        self.kernel_size = int(kernel_size)
        self.num_classes = check_int("num_classes", num_classes, minimum=1, allow_none=True)

    def build(self, vertical_shape, horizontal_shape=None, labels_shape=None):
        dim = int(vertical_shape[-1])
        half = self.kernel_size // 2
        self.dim = dim
        self.vertical_kernel = self.add_weight(
            name="vertical_kernel", shape=(half + 1, self.kernel_size, dim, 2 * dim), initializer="glorot_uniform"
        )
        self.vertical_bias = self.add_weight(name="vertical_bias", shape=(2 * dim,), initializer="zeros")
        self.horizontal_kernel = self.add_weight(
            name="horizontal_kernel", shape=(1, half + 1, dim, 2 * dim), initializer="glorot_uniform"
        )
        self.horizontal_bias = self.add_weight(name="horizontal_bias", shape=(2 * dim,), initializer="zeros")
        self.vertical_to_horizontal = keras.layers.Dense(2 * dim, name="vertical_to_horizontal")
        self.vertical_to_horizontal.build((None, None, None, 2 * dim))
        self.horizontal_output = keras.layers.Dense(dim, name="horizontal_output")
        self.horizontal_output.build((None, None, None, dim))
        if self.num_classes is not None:
            self.class_embedding = keras.layers.Embedding(self.num_classes, 2 * dim, name="class_embedding")
            self.class_embedding.build((None,))
        # Type A hides the current column from the horizontal stack: mask the last kernel column.
        mask = [1.0] * half + [0.0 if self.mask_type == "A" else 1.0]
        self._horizontal_mask = tf.constant(mask, shape=(1, half + 1, 1, 1))

    @staticmethod
    def _gate(x):
        a, b = tf.split(x, 2, axis=-1)
        return tf.tanh(a) * tf.sigmoid(b)

    def call(self, vertical, horizontal, labels=None):
        half = self.kernel_size // 2
        # Vertical stack: rows i−half … i, columns j−half … j+half.
        v = tf.pad(vertical, [[0, 0], [half, 0], [half, half], [0, 0]])
        v = tf.nn.conv2d(v, tf.cast(self.vertical_kernel, v.dtype), 1, "VALID")
        v = v + tf.cast(self.vertical_bias, v.dtype)
        # Horizontal stack: row i, columns j−half … j (… j−1 for type A).
        h = tf.pad(horizontal, [[0, 0], [0, 0], [half, 0], [0, 0]])
        kernel = self.horizontal_kernel * self._horizontal_mask
        h = tf.nn.conv2d(h, tf.cast(kernel, h.dtype), 1, "VALID") + tf.cast(self.horizontal_bias, h.dtype)
        # Shift the vertical features down one row so (i, j) only sees rows < i from them.
        v_shifted = tf.pad(v, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]
        h = h + self.vertical_to_horizontal(v_shifted)
        if self.num_classes is not None:
            condition = tf.cast(self.class_embedding(labels), v.dtype)[:, None, None, :]
            v = v + condition
            h = h + condition
        vertical_out = self._gate(v)
        horizontal_out = self.horizontal_output(self._gate(h))
        if self.mask_type == "B":
            horizontal_out = horizontal_out + horizontal
        return vertical_out, horizontal_out

    def compute_output_shape(self, vertical_shape, horizontal_shape=None, labels_shape=None):
        return tuple(vertical_shape), tuple(vertical_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"mask_type": self.mask_type, "kernel_size": self.kernel_size, "num_classes": self.num_classes}
        )
        return config
