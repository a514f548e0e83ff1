"""Training gives exactly the numbers it gave before the backbone/task split (commit bfd6f5a), and a VQ-GAN file saved
by that version loads, reconstructs and trains on as it did. The fixtures come from `record_training_steps.py`.

The fixtures were recorded with Keras' `GroupNormalization`, whose statistics sum in another float32 order than
`GroupNorm`'s axis-by-axis statistics (used from 32×32 images up). The bit-identical checks run with Keras' computation
put back into `GroupNorm` (everything else is the code as it is), and the same steps with the axis-by-axis statistics
must stay within float32 rounding of them."""

import os

import keras
import numpy as np
import pytest

from tests.models.record_training_steps import FIXTURE_DIR
from tests.models.record_training_steps import build
from tests.models.record_training_steps import images
from tests.models.record_training_steps import run
from vqkeras.layers import GroupNorm


@pytest.fixture(scope="module")
def recorded():
    with np.load(os.path.join(FIXTURE_DIR, "training_steps.npz")) as data:
        return dict(data)


@pytest.fixture
def keras_group_norm(monkeypatch):
    """`GroupNorm` with Keras' `GroupNormalization.call`: the maths the fixtures were recorded with."""
    monkeypatch.setattr(GroupNorm, "call", keras.layers.GroupNormalization.call)


def assert_same(record, recorded, prefix):
    expected = {key: value for key, value in recorded.items() if key.startswith(prefix)}
    assert set(record) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(record[key], value, err_msg=key)


@pytest.mark.parametrize("kind", ["vqvae", "vqgan"])
def test_training_steps_give_the_recorded_logs_and_weights(kind, recorded, keras_group_norm):
    """Seeded tiny models, every objective part on (code entropy; for the VQ-GAN also R1, DiffAugment, a warm-up):
    three `train_on_batch` steps give bit-identical logs and weights."""
    assert_same(run(build(kind), prefix=f"{kind}/"), recorded, f"{kind}/")


@pytest.mark.parametrize("kind", ["vqvae", "vqgan"])
def test_group_norm_keeps_the_recorded_logs_within_float32_rounding(kind, recorded, monkeypatch):
    # The tiny models' images are below GroupNorm's size threshold: force its axis-by-axis statistics.
    monkeypatch.setattr(GroupNorm, "AXIS_BY_AXIS_MIN_POSITIONS", 0)
    record = run(build(kind), prefix=f"{kind}/")
    logs = [key for key in recorded if key.startswith(f"{kind}/step")]
    assert logs and set(logs) <= set(record)
    for key in logs:
        np.testing.assert_allclose(record[key], recorded[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_a_vqgan_file_of_the_old_layout_reconstructs_and_trains_on(recorded, keras_group_norm):
    model = keras.saving.load_model(os.path.join(FIXTURE_DIR, "tiny_vqgan.keras"))
    np.testing.assert_array_equal(model(images(9), training=False).numpy(), recorded["saved/reconstructions"])
    record = run(model, steps=1, prefix="saved/")
    record["saved/reconstructions"] = recorded["saved/reconstructions"]
    assert_same(record, recorded, "saved/")
