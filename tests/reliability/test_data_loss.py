"""No data loss: a save, a checkpoint, a backup or an export killed at any moment leaves the old or the new version.

Each SIGKILL test runs `sigkill_child.py`, which writes in a loop (or trains through the CLI) and either pauses at a
named moment inside a write (deterministic: the moments where today's Keras leaves a truncated file) or is killed after
a random delay. Then the target is loaded and compared, and the next save, export or resumed run must succeed.
"""

import os
import random
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.reliability.sigkill import TINY_TRAIN
from tests.reliability.sigkill import done_count
from tests.reliability.sigkill import same_weights
from tests.reliability.sigkill import snapshots
from tests.reliability.sigkill import weights_of
from tests.tiny_models import images
from tests.tiny_models import tiny_vqvae
from vqkeras.cli import main
from vqkeras.export import export_saved_model
from vqkeras.export import load_model

# Delays after the first finished write, drawn once: a kill lands at an arbitrary point of a later one. These rows are
# `slow`: the rows that pause at a named moment cover the same property deterministically.
_RANDOM = random.Random(35)
DELAYS = [round(_RANDOM.uniform(0.2 * i, 0.2 * (i + 1)), 3) for i in range(3)]  # one in each fifth of a second


def _uniform_value(arrays):
    """The one value every array holds (the child sets all weights of its `k`-th save to `k`), or None."""
    values = {float(v) for array in arrays for v in np.unique(np.asarray(array, "float64"))}
    return values.pop() if len(values) == 1 else None


def _saved_value(path):
    return _uniform_value(weights_of(path))


def _exported_value(version_dir):
    """Loads the export through the checked loader, then reads the value its variables hold."""
    assert load_model(version_dir) is not None
    reader = tf.train.load_checkpoint(str(version_dir / "variables" / "variables"))
    return _uniform_value(
        reader.get_tensor(name) for name, dtype in reader.get_variable_to_dtype_map().items() if dtype.is_floating
    )


# ----------------------------------------------------------------------------- model.save
@pytest.mark.parametrize(
    "model, dataset",
    [
        ("tiny_vqvae", 1),  # Keras has written the zip's config, not yet the weights
        ("tiny_vqvae", 12),  # half-way through the weights
        # Every model saves through the same `KerasFileSaving.save`; the generator (a model holding models) stays in
        # the fast set, the other two kinds are slow.
        pytest.param("tiny_vqgan", 1, marks=pytest.mark.slow),
        ("tiny_generator", 1),
        pytest.param("tiny_transformer_prior", 1, marks=pytest.mark.slow),
    ],
)
def test_model_save_killed_mid_write_keeps_the_old_model(child, tmp_path, model, dataset):
    target = tmp_path / "model.keras"
    process = child({"job": "save", "model": model, "target": str(target),
                     "pause": {"kind": "model", "call": 2, "dataset": dataset}})
    process.wait_for(lambda lines: "PAUSED" in lines)
    process.kill()
    assert _saved_value(target) == 1.0  # the first save, whole
    fresh = tiny_vqvae()
    fresh(images(1))
    fresh.save(target)  # the next save over it works
    assert same_weights(weights_of(target), [np.asarray(w) for w in fresh.get_weights()])


@pytest.mark.slow
@pytest.mark.parametrize("delay", DELAYS)
def test_model_save_killed_at_a_random_moment_leaves_a_whole_model(child, tmp_path, delay):
    target = tmp_path / "model.keras"
    process = child({"job": "save", "model": "tiny_vqvae", "target": str(target)})
    process.wait_for(lambda lines: done_count(lines) >= 1)
    time.sleep(delay)
    done = done_count(process.kill())
    assert _saved_value(target) in (done, done + 1)  # the last finished save, or the one just finished


def _saved_weights(path):
    if path.name.endswith(".keras"):
        return weights_of(path)
    model = tiny_vqvae()
    model(images(1))
    model.load_weights(path)
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("name, method", [("model.keras", "save"), ("model.weights.h5", "save_weights")])
def test_a_failing_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, name, method):
    target = tmp_path / name
    model = tiny_vqvae()
    model(images(1))
    getattr(model, method)(target)
    before = _saved_weights(target)
    original, calls = h5py.Group.create_dataset, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    model.set_weights([w + 1 for w in model.get_weights()])
    with pytest.raises(OSError, match="disk full"):
        getattr(model, method)(target)
    assert same_weights(_saved_weights(target), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


# ----------------------------------------------------------------------------- export_saved_model(overwrite=True)
@pytest.mark.parametrize(
    "moment",
    [
        # Today the old version is already deleted before the new one is written. Slow: the same swap as
        # after-write, killed one step earlier.
        pytest.param({"pause": {"kind": "export", "call": 2, "when": "before"}}, id="before-write",
                     marks=pytest.mark.slow),
        # The new version written, not yet swapped in.
        pytest.param({"pause": {"kind": "export", "call": 2, "when": "after"}}, id="after-write"),
        *(pytest.param({"delay": delay}, marks=pytest.mark.slow, id=f"delay-{delay}") for delay in DELAYS[:2]),
    ],
)
def test_export_killed_keeps_a_complete_export(child, tmp_path, moment):
    base = tmp_path / "export"
    process = child({"job": "export", "target": str(base), "pause": moment.get("pause")})
    if "pause" in moment:
        process.wait_for(lambda lines: "PAUSED" in lines)
        done = done_count(process.kill())
        assert done == 1
        expected = {1.0}
    else:
        process.wait_for(lambda lines: done_count(lines) >= 1)
        time.sleep(moment["delay"])
        done = done_count(process.kill())
        expected = {done, done + 1}
    assert _exported_value(base / "1") in expected
    model = tiny_vqvae()
    model(images(1))
    export_saved_model(model, base, version=1, overwrite=True)  # the next export over it works
    assert sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) == ["1"]
    np.testing.assert_allclose(
        load_model(base / "1").signatures["serving_default"](images=tf.constant(images(2)))["reconstructions"],
        model(images(2)), atol=1e-5,
    )


def test_a_failing_export_leaves_the_old_version(tmp_path, monkeypatch):
    model = tiny_vqvae()
    model(images(1))
    version = export_saved_model(model, tmp_path, version=1)
    archive_class = type(keras.export.ExportArchive())  # the backend's subclass, which defines write_out

    def failing(self, filepath, *args, **kwargs):  # fails half-way: a directory with a partial file
        os.makedirs(filepath, exist_ok=True)
        with open(os.path.join(filepath, "saved_model.pb"), "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(archive_class, "write_out", failing)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(model, tmp_path, version=1, overwrite=True)
    assert load_model(version) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]


# ----------------------------------------------------------------------------- vqkeras train --out / --backup-dir
TRAIN_MOMENTS = {
    "mid-out-checkpoint": {"pause": {"kind": "model", "call": 2, "dataset": 1}, "resume_epoch": 2},
    "mid-backup-start": {"pause": {"kind": "weights", "call": 2, "dataset": 1}, "resume_epoch": 2},
    "mid-backup-late": {"pause": {"kind": "weights", "call": 2, "dataset": 40}, "resume_epoch": 2},
    "random-moment": {"delay": DELAYS[0]},
}


@pytest.mark.parametrize(
    "moment",
    # "mid-backup-late" is the same commit as "mid-backup-start", later in the file: slow, with the random moment.
    # "mid-out-checkpoint" is slow too: the atomic write it interrupts has its fast test above
    # (test_model_save_killed_mid_write_keeps_the_old_model), and mid-backup-start keeps the kill-and-rerun path.
    [pytest.param(name, marks=[pytest.mark.slow] if name in ("random-moment", "mid-backup-late", "mid-out-checkpoint")
                  else [])
     for name in TRAIN_MOMENTS],
)
def test_train_killed_then_rerun_resumes(child, tmp_path, capsys, moment):
    """`vqkeras train` killed while it writes `--out` or its backup: `--out` is whole, and the same command resumes."""
    setting = TRAIN_MOMENTS[moment]
    out, backup, copies = tmp_path / "out.keras", tmp_path / "backup", tmp_path / "snapshots"
    copies.mkdir()
    argv = ["train", "vqvae", *TINY_TRAIN, "--epochs", "3", "--seed", "0", "--out", str(out),
            "--backup-dir", str(backup)]
    process = child({"job": "cli", "argv": argv, "snapshots": str(copies), "pause": setting.get("pause")})
    if "pause" in setting:
        process.wait_for(lambda lines: "PAUSED" in lines)
    else:
        process.wait_for(lambda lines: snapshots(lines, "model"))
        time.sleep(setting["delay"])
    finished = snapshots(process.kill(), "model")
    assert any(same_weights(weights_of(out), weights_of(path)) for path in finished.values())

    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr()
    epochs = [line.split()[1] for line in printed.out.splitlines() if line.startswith("Epoch ")]
    if "resume_epoch" in setting:  # the backup of epoch 1 was the last one whole
        assert epochs[0] == f"{setting['resume_epoch']}/3", printed.out
    assert epochs[-1] == "3/3" and not backup.exists()
    assert weights_of(out)
