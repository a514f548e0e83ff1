"""Default initializer of vector-quantizer codebooks."""

import math
import random

import keras

from vqkeras.utils.validation import check_bool
from vqkeras.utils.validation import check_seed


@keras.saving.register_keras_serializable(package="vqkeras")
class CodebookInitializer(keras.initializers.Initializer):
    """Uniform codebook initializer in `±√(3/D)` for a `(K, D)` codebook, optionally l2-normalised rows.

    Each row then has an expected squared norm of 1, the scale of a unit-variance encoder output projected to `D`
    dimensions and divided by `√D`, matching Sonnet's variance-scaling default for the `(D, K)` layout.

    Args:
        l2_normalize: Boolean. Normalise every row to unit length.
        seed: Optional integer.
    """

    def __init__(self, l2_normalize=False, seed=None):
        self.l2_normalize = check_bool("l2_normalize", l2_normalize)
        self.seed = check_seed("seed", seed)

    def __call__(self, shape, dtype=None):
        limit = math.sqrt(3.0 / shape[-1])
        # Without a seed, draw an integer one (seeded by keras.utils.set_random_seed) rather than use Keras' global
        # SeedGenerator: its state variable can't be created inside a variable initializer under tf.distribute.
        seed = self.seed if self.seed is not None else random.randint(1, 2**31 - 1)
        values = keras.random.uniform(shape, -limit, limit, dtype=dtype or "float32", seed=seed)
        if self.l2_normalize:
            values = values / keras.ops.sqrt(keras.ops.sum(values * values, axis=-1, keepdims=True) + 1e-12)
        return values

    def get_config(self):
        return {"l2_normalize": self.l2_normalize, "seed": self.seed}
