"""A learning rate that holds, then falls linearly to zero: warmup-stable-decay without the warmup."""

import keras

from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


@keras.saving.register_keras_serializable(package="vqkeras")
class StableDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`lr(t) = lr₀ · min(1, (T − t) / (a·T))`, clipped at 0: constant for the first `(1 − a)·T` steps, then a linear
    fall to 0 at step `T`.

    A short run annealed to zero ends at a lower loss than the same run at a constant rate (the final decay does
    the averaging a smaller rate would); keeping the rate high until then keeps the early progress of a constant
    rate. The fall needs the run's length, so the schedule is built for a known number of steps.

    Args:
        learning_rate: Float > 0, the rate `lr₀` of the stable part.
        total_steps: Integer ≥ 1, the run's steps `T`.
        decay_fraction: Float in (0, 1], the last fraction `a` of the run over which the rate falls to 0.
    """

    def __init__(self, learning_rate, total_steps, decay_fraction):
        self.learning_rate = check_float("learning_rate", learning_rate, minimum=0, exclusive_minimum=True)
        self.total_steps = check_int("total_steps", total_steps, minimum=1)
        self.decay_fraction = check_float("decay_fraction", decay_fraction, minimum=0, maximum=1,
                                          exclusive_minimum=True)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        remaining = (self.total_steps - step) / (self.decay_fraction * self.total_steps)
        return self.learning_rate * keras.ops.clip(remaining, 0.0, 1.0)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "total_steps": self.total_steps,
                "decay_fraction": self.decay_fraction}
