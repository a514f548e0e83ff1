"""Training gives exactly the numbers it gave before the backbone/task split (commit bfd6f5a), and a VQ-GAN file saved
by that version loads, reconstructs and trains on as it did. The fixtures come from `record_training_steps.py`."""

import os

import keras
import numpy as np
import pytest

from tests.models.record_training_steps import FIXTURE_DIR
from tests.models.record_training_steps import build
from tests.models.record_training_steps import images
from tests.models.record_training_steps import run


@pytest.fixture(scope="module")
def recorded():
    with np.load(os.path.join(FIXTURE_DIR, "training_steps.npz")) as data:
        return dict(data)


def assert_same(record, recorded, prefix):
    expected = {key: value for key, value in recorded.items() if key.startswith(prefix)}
    assert set(record) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(record[key], value, err_msg=key)


@pytest.mark.parametrize("kind", ["vqvae", "vqgan"])
def test_training_steps_give_the_recorded_logs_and_weights(kind, recorded):
    """Seeded tiny models, every objective part on (code entropy; for the VQ-GAN also R1, DiffAugment, a warm-up):
    three `train_on_batch` steps give bit-identical logs and weights."""
    assert_same(run(build(kind), prefix=f"{kind}/"), recorded, f"{kind}/")


def test_a_vqgan_file_of_the_old_layout_reconstructs_and_trains_on(recorded):
    model = keras.saving.load_model(os.path.join(FIXTURE_DIR, "tiny_vqgan.keras"))
    np.testing.assert_array_equal(model(images(9), training=False).numpy(), recorded["saved/reconstructions"])
    record = run(model, steps=1, prefix="saved/")
    record["saved/reconstructions"] = recorded["saved/reconstructions"]
    assert_same(record, recorded, "saved/")
