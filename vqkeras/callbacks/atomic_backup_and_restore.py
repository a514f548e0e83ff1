"""`AtomicBackupAndRestore`: `keras.callbacks.BackupAndRestore` whose backups survive a kill at any moment."""

import json
import os
import shutil

import keras

from vqkeras.utils.atomic_files import atomic_file

_STATE_FILE = "backup.json"


class AtomicBackupAndRestore(keras.callbacks.Callback):
    """Backs up the training state at the end of each epoch and restores it when `fit` runs again.

    It resumes like `keras.callbacks.BackupAndRestore(backup_dir)`: rerun the same `fit` after an interruption and it
    continues from the last finished epoch. Keras' callback overwrites `latest.weights.h5` in place, so a kill during
    the write leaves a truncated file that fails every later resume with an `OSError`; its `double_checkpoint=True`
    copies and rewrites non-atomically too, and writes the epoch number in a second, separate step. Here each backup
    commits in one atomic step:

    1. the model's weights and optimizer state go to `epoch-<e>.weights.h5`, written under a temporary name and then
       renamed, so the name appears only once the file is complete;
    2. `backup.json`, `{"epoch": e, "weights": "epoch-<e>.weights.h5"}`, is replaced atomically: the commit;
    3. older weights files are deleted.

    A kill before step 2 leaves the previous backup in force; after it, the new one. Backups are taken per epoch only:
    Keras restarts an interrupted epoch from its first batch, so a mid-epoch backup could not be resumed exactly.

    Args:
        backup_dir: String or path. A directory for this run's backups only.
        delete_checkpoint: Boolean. Delete `backup_dir` when training finishes. Defaults to `True`.

    Example:

    >>> model.fit(data, epochs=10, callbacks=[AtomicBackupAndRestore("/tmp/backup")])  # killed at epoch 4
    >>> model.fit(data, epochs=10, callbacks=[AtomicBackupAndRestore("/tmp/backup")])  # runs epochs 4 to 9
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ValueError(f"backup_dir must be a non-empty path. Received: backup_dir={backup_dir!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = bool(delete_checkpoint)

    @property
    def _state_path(self):
        return os.path.join(self.backup_dir, _STATE_FILE)

    def backed_up_epoch(self):
        """The number of finished epochs in the last committed backup, or `None` when there is none."""
        state = self._read_state()
        return None if state is None else state["epoch"]

    def _read_state(self):
        if not os.path.exists(self._state_path):
            return None
        with open(self._state_path) as f:
            state = json.load(f)
        weights = os.path.join(self.backup_dir, state["weights"])
        if not os.path.exists(weights):
            raise FileNotFoundError(
                f"The backup in {self.backup_dir} names {state['weights']}, which is missing: delete the directory "
                "to start over."
            )
        return {"epoch": int(state["epoch"]), "weights": weights}

    def on_train_begin(self, logs=None):
        state = self._read_state()
        if state is None:
            return
        if not self.model.built:
            raise ValueError(
                f"AtomicBackupAndRestore restores into a built model; build {type(self.model).__name__} before fit() "
                "(call it on a batch, or model.build(input_shape))."
            )
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its variables must exist to be loaded
        self.model.load_weights(state["weights"])
        self.model._initial_epoch = state["epoch"]  # Keras' own resume hook, as in keras.callbacks.BackupAndRestore

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{epoch + 1}.weights.h5"
        with atomic_file(os.path.join(self.backup_dir, name), suffix=".weights.h5") as temporary:
            self.model.save_weights(temporary)
        with atomic_file(self._state_path) as temporary, open(temporary, "w") as f:
            json.dump({"epoch": epoch + 1, "weights": name}, f)
        for other in os.listdir(self.backup_dir):  # older backups, and temporary files of killed runs
            if other not in (name, _STATE_FILE):
                path = os.path.join(self.backup_dir, other)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
