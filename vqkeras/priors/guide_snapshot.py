"""Guidance by an early copy of a prior: the callback that takes the copy, and the check of when to take it."""

import keras


def check_guide_fraction(guide_fraction):
    """Raises `ValueError` unless `guide_fraction` is `None` or in `(0, 1)`."""
    if guide_fraction is not None and not 0 < guide_fraction < 1:
        raise ValueError(f"guide_fraction must be in (0, 1). Received: guide_fraction={guide_fraction}")


class GuideSnapshot(keras.callbacks.Callback):
    """Takes `model.snapshot()` of a training prior once `at_step` training steps are done.

    The copy is a weaker version of the final prior, for guided sampling (autoguidance, Karras et al. 2024):
    `prior.sample(n, guide=callback.guide, guidance_scale=w)` samples from `∝ p · (p / q)^w`, with `p` the final prior
    and `q` the snapshot. `guide` is `None` until the step is reached.

    Args:
        at_step: Integer ≥ 1. The number of training steps after which the copy is taken (counted across epochs).

    Example:

    >>> snapshot = vqkeras.priors.GuideSnapshot(at_step=1000)
    >>> prior.fit(tokens, epochs=20, callbacks=[snapshot])
    >>> grids = prior.sample(16, guide=snapshot.guide, guidance_scale=1.0, seed=0)
    """

    def __init__(self, at_step):
        super().__init__()
        if isinstance(at_step, bool) or int(at_step) != at_step or at_step < 1:
            raise ValueError(f"at_step must be an integer ≥ 1. Received: at_step={at_step}")
        self.at_step = int(at_step)
        self.steps = 0
        self.guide = None

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.at_step:
            self.guide = self.model.snapshot()
