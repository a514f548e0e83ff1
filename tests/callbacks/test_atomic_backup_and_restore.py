"""`AtomicBackupAndRestore` and `DatasetEpoch`: what a backup directory holds, and clear errors."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import images
from tests.tiny_models import tiny_vqvae
from vqkeras.callbacks import AtomicBackupAndRestore
from vqkeras.callbacks import DatasetEpoch


class Stop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def _model():
    model = tiny_vqvae()
    model.build((None, 8, 8, 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_a_backup_commits_one_weights_file_and_a_resume_skips_the_finished_epochs(tmp_path):
    backup = tmp_path / "backup"
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(images(8), epochs=4, batch_size=4, verbose=0, callbacks=[AtomicBackupAndRestore(backup), Stop()])
    assert sorted(p.name for p in backup.iterdir()) == ["backup.json", "epoch-2.weights.h5"]
    assert json.loads((backup / "backup.json").read_text()) == {"epoch": 2, "weights": "epoch-2.weights.h5"}
    assert AtomicBackupAndRestore(backup).backed_up_epoch() == 2
    saved = [np.asarray(w) for w in model.get_weights()]

    resumed = _model()
    history = resumed.fit(images(8), epochs=2, batch_size=4, verbose=0, callbacks=[AtomicBackupAndRestore(backup)])
    assert history.history == {}  # both epochs were done: nothing to run
    for got, want in zip(resumed.get_weights(), saved):
        np.testing.assert_array_equal(got, want)
    assert resumed.optimizer.iterations.numpy() == 4  # the optimizer's state came back too
    assert not backup.exists()


def test_a_backup_naming_a_missing_weights_file_says_so(tmp_path):
    (tmp_path / "backup.json").write_text(json.dumps({"epoch": 3, "weights": "epoch-3.weights.h5"}))
    with pytest.raises(FileNotFoundError, match="epoch-3.weights.h5, which is missing"):
        _model().fit(images(4), epochs=4, verbose=0, callbacks=[AtomicBackupAndRestore(tmp_path)])


@pytest.mark.parametrize("backup_dir", ["", None, 3])
def test_backup_dir_must_be_a_path(backup_dir):
    with pytest.raises(ValueError, match="backup_dir must be a non-empty path"):
        AtomicBackupAndRestore(backup_dir)


def test_dataset_epoch_refuses_a_dataset_not_made_by_load_images():
    with pytest.raises(ValueError, match="the dataset load_images returned"):
        DatasetEpoch(tf.data.Dataset.range(3))
