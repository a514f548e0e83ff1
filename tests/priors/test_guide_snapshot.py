import numpy as np
import pytest
import keras

from vqkeras.priors import GuideSnapshot
from vqkeras.priors import TransformerPrior


def test_copy_is_taken_after_the_chosen_step_across_epochs():
    keras.utils.set_random_seed(0)
    prior = TransformerPrior(6, (2, 2), embed_dim=8, num_layers=1, num_heads=2, dropout=0.0)
    tokens = np.random.default_rng(0).integers(0, 6, size=(32, 2, 2))
    prior.compile(optimizer=keras.optimizers.Adam(1e-2))
    taken = {}

    class Recorder(keras.callbacks.Callback):  # the prior's logits after each step
        def on_train_batch_end(self, batch, logs=None):
            taken[len(taken) + 1] = prior.logits(tokens).numpy()

    snapshot = GuideSnapshot(at_step=5)
    prior.fit(tokens, epochs=2, batch_size=8, callbacks=[Recorder(), snapshot], verbose=0)  # 4 steps an epoch
    assert snapshot.steps == 8 and len(taken) == 8
    np.testing.assert_allclose(snapshot.guide.logits(tokens).numpy(), taken[5], atol=1e-6)
    assert not np.allclose(snapshot.guide.logits(tokens).numpy(), taken[8])


def test_no_copy_before_the_step_and_bad_steps_are_rejected():
    assert GuideSnapshot(at_step=3).guide is None
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"at_step must be an integer ≥ 1. Received: at_step={bad}"):
            GuideSnapshot(at_step=bad)


def test_callbacks_name_is_kept():
    import vqkeras

    assert vqkeras.callbacks.GuideSnapshot is GuideSnapshot
