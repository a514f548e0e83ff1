"""A child process for the SIGKILL tests: it saves, exports or trains, reports each finished write, and can pause.

Run as `python sigkill_child.py '<json spec>'` (see `conftest.py`). Spec keys:
- `job`: `"save"` (save a tiny model over `target` in a loop, its weights all set to `k` for the `k`-th save),
  `"export"` (the same with `export_saved_model(..., overwrite=True)` into `target`), or `"cli"` (run
  `vqkeras.cli.main(argv)`);
- `model`: for `"save"`, a name of `tests.tiny_models` (`"tiny_vqvae"`, ...);
- `pause`: optional. The child prints `PAUSED` and sleeps (to be killed) at the moment it names:
  `{"kind": "model" | "weights", "call": k, "dataset": d}`: while Keras writes the `d`-th HDF5 dataset of its `k`-th
  `.keras` (`"model"`) or `.weights.h5` (`"weights"`) file; `{"kind": "export", "call": k, "when": "before" |
  "after"}`: just before or after the `k`-th SavedModel is written out; `{"kind": "batch", "epoch": e, "batch": b}`:
  after batch `b` of epoch `e` of `fit`.
- `snapshots`: optional directory; each finished Keras file is copied there as `<kind>-<k><ext>` and reported.

Lines on stdout: `DONE k` after the `k`-th save or export of a loop, `SNAPSHOT <kind> <k> <path>`, `PAUSED`.
"""

import json
import os
import shutil
import sys
import time

import h5py
import keras
import numpy as np
from keras.src.saving import saving_lib

# The protocol lines get the original stdout to themselves; everything else printed (Keras' progress bars) goes to
# stderr, so no progress fragment ever shares a line with them.
PROTOCOL = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
SPEC = json.loads(sys.argv[1])
PAUSE = SPEC.get("pause") or {}
CALLS = {"model": 0, "weights": 0, "export": 0}
WRITING = {"kind": None, "datasets": 0}


def say(line):
    print(line, file=PROTOCOL, flush=True)


def pause():
    say("PAUSED")
    time.sleep(3600)


def counted(kind, function, extension):
    """Wraps a Keras writer: counts its calls, tracks the one in progress, snapshots each finished file."""

    def wrapper(model, filepath, *args, **kwargs):
        CALLS[kind] += 1
        WRITING.update(kind=kind, datasets=0)
        result = function(model, filepath, *args, **kwargs)
        WRITING.update(kind=None)
        if SPEC.get("snapshots"):
            copy = os.path.join(SPEC["snapshots"], f"{kind}-{CALLS[kind]}{extension}")
            shutil.copyfile(filepath, copy)
            say(f"SNAPSHOT {kind} {CALLS[kind]} {copy}")
        return result

    return wrapper


saving_lib.save_model = counted("model", saving_lib.save_model, ".keras")
saving_lib.save_weights_only = counted("weights", saving_lib.save_weights_only, ".weights.h5")
_create_dataset = h5py.Group.create_dataset


def create_dataset(self, *args, **kwargs):
    if WRITING["kind"] is not None:
        WRITING["datasets"] += 1
        if (PAUSE.get("kind") == WRITING["kind"] and PAUSE.get("call") == CALLS[WRITING["kind"]]
                and PAUSE.get("dataset") == WRITING["datasets"]):
            pause()
    return _create_dataset(self, *args, **kwargs)


h5py.Group.create_dataset = create_dataset
ARCHIVE_CLASS = type(keras.export.ExportArchive())  # the backend's subclass, which defines write_out
_write_out = ARCHIVE_CLASS.write_out


def write_out(self, *args, **kwargs):
    CALLS["export"] += 1
    at_this_call = PAUSE.get("kind") == "export" and PAUSE.get("call") == CALLS["export"]
    if at_this_call and PAUSE["when"] == "before":
        pause()
    result = _write_out(self, *args, **kwargs)
    if at_this_call and PAUSE["when"] == "after":
        pause()
    return result


ARCHIVE_CLASS.write_out = write_out


class PauseAtBatch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if PAUSE.get("kind") == "batch" and (PAUSE["epoch"], PAUSE["batch"]) == (self.epoch, batch):
            pause()


_fit = keras.Model.fit


def fit(self, *args, callbacks=None, **kwargs):
    return _fit(self, *args, callbacks=[*(callbacks or []), PauseAtBatch()], **kwargs)


keras.Model.fit = fit


def set_all_weights(model, value):
    model.set_weights([np.full(np.shape(w), value, np.asarray(w).dtype) for w in model.get_weights()])


def tiny_built_model(name):
    from tests import tiny_models

    model = getattr(tiny_models, name)()
    if hasattr(model, "prior"):
        model.generate_tokens(1, seed=0)
        model(tiny_models.images(1))
    elif hasattr(model, "sample"):
        model.sample(1, seed=0)
    else:
        model(tiny_models.images(1))
    return model


def main():
    if SPEC["job"] == "cli":
        from vqkeras.cli import main as cli_main

        sys.exit(cli_main(SPEC["argv"]))
    model = tiny_built_model(SPEC.get("model", "tiny_vqvae"))
    for k in range(1, 10_000):
        set_all_weights(model, k)
        if SPEC["job"] == "save":
            model.save(SPEC["target"])
        else:
            from vqkeras.export import export_saved_model

            export_saved_model(model, SPEC["target"], version=1, overwrite=True)
        say(f"DONE {k}")


main()
