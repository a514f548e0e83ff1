import keras
import numpy as np
import pytest

from vqkeras.models.patch_discriminator import PatchDiscriminator


def _images(shape=(2, 64, 64, 3), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


@pytest.mark.parametrize(
    "num_layers, size, expected",
    [(3, 64, 6), (3, 256, 30), (2, 32, 6), (1, 16, 6)],
)
def test_output_shape(num_layers, size, expected):
    d = PatchDiscriminator(num_layers=num_layers, filters=8)
    logits = d(_images((2, size, size, 3)))
    assert tuple(logits.shape) == (2, expected, expected, 1)
    assert keras.ops.dtype(logits) == "float32"


def test_default_architecture():
    d = PatchDiscriminator()
    d(_images((1, 64, 64, 1)))
    kernels = [v for v in d.trainable_variables if v.path.endswith("kernel")]
    assert [tuple(k.shape) for k in kernels] == [
        (4, 4, 1, 64), (4, 4, 64, 128), (4, 4, 128, 256),
        (4, 4, 256, 512), (4, 4, 512, 1),
    ]
    biases = [v.path for v in d.trainable_variables if v.path.endswith("bias")]
    # Only the first and the logits convs have biases (BatchNorm follows
    # the others).
    assert len(biases) == 2
    assert len([l for l in d._flatten_layers()
                if isinstance(l, keras.layers.BatchNormalization)]) == 3
    assert len([l for l in d._flatten_layers()
                if isinstance(l, keras.layers.LeakyReLU)]) == 4
    assert all(l.negative_slope == pytest.approx(0.2) for l in d._flatten_layers()
               if isinstance(l, keras.layers.LeakyReLU))


def test_initialisation_statistics():
    keras.utils.set_random_seed(0)
    d = PatchDiscriminator()
    d(_images())
    for v in d.trainable_variables:
        values = v.numpy()
        if v.path.endswith("kernel") and values.size > 10000:
            assert abs(values.std() - 0.02) < 0.001, v.path
            assert abs(values.mean()) < 0.001, v.path
        if v.path.endswith("gamma"):
            assert abs(values.mean() - 1.0) < 0.01, v.path
            assert 0.01 < values.std() < 0.03, v.path
        if v.path.endswith("bias") or v.path.endswith("beta"):
            assert np.all(values == 0), v.path


@pytest.mark.parametrize("norm, layer", [
    ("group", keras.layers.GroupNormalization), ("none", None)])
def test_normalization_choice(norm, layer):
    d = PatchDiscriminator(filters=32, norm=norm, norm_groups=8)
    d(_images((2, 32, 32, 3)))
    norms = [l for l in d._flatten_layers()
             if isinstance(l, (keras.layers.BatchNormalization,
                               keras.layers.GroupNormalization))]
    if layer is None:
        assert norms == []
        assert len([v for v in d.trainable_variables
                    if v.path.endswith("bias")]) == 5
    else:
        assert len(norms) == 3 and all(isinstance(n, layer) for n in norms)


def test_float32_logits_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    d = PatchDiscriminator(filters=8)
    logits = d(_images().astype("float16"))
    assert keras.ops.dtype(logits) == "float32"
    assert d.get_layer("conv_1").compute_dtype == "float16"


def test_batchnorm_statistics_change_only_in_training():
    d = PatchDiscriminator(filters=8)
    x = _images()
    d(x)
    before = [v.numpy().copy() for v in d.non_trainable_variables]
    d(x, training=False)
    assert all(np.array_equal(a, v.numpy())
               for a, v in zip(before, d.non_trainable_variables))
    d(x, training=True)
    assert not all(np.array_equal(a, v.numpy())
                   for a, v in zip(before, d.non_trainable_variables))


def test_config_round_trip_and_saving(tmp_path):
    d = PatchDiscriminator(num_layers=2, filters=16, norm="group",
                           norm_groups=4, name="disc")
    x = _images((2, 32, 32, 3))
    expected = d(x).numpy()
    config = d.get_config()
    assert {k: config[k] for k in ("num_layers", "filters", "norm",
                                   "norm_groups", "name")} == {
        "num_layers": 2, "filters": 16, "norm": "group", "norm_groups": 4,
        "name": "disc"}
    clone = PatchDiscriminator.from_config(config)
    assert clone.get_config() == config

    path = str(tmp_path / "disc.keras")
    d.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, PatchDiscriminator)
    assert restored.get_config() == config
    np.testing.assert_allclose(restored(x).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_layers": 0}, "num_layers"),
    ({"filters": 0}, "filters"),
    ({"norm": "instance"}, "norm"),
    ({"norm": "group", "filters": 20, "norm_groups": 16}, "divisible"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PatchDiscriminator(**kwargs)


def test_save_is_atomic_and_clears_what_a_killed_save_left(tmp_path, monkeypatch):
    """`save` writes beside the target and renames (KerasFileSaving); a save killed by SIGKILL leaves a
    `.<name>.tmp-<pid>-…` file, which the next save of that target removes."""
    import os
    import signal
    import subprocess
    import sys

    d = PatchDiscriminator(num_layers=1, filters=8)
    d(_images((1, 16, 16, 1)))
    path = tmp_path / "d.keras"
    d.save(path)
    saved = path.read_bytes()

    def truncated_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"half a zip")
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "save", truncated_save)
        with pytest.raises(OSError, match="disk full"):
            d.save(path)
    assert path.read_bytes() == saved and sorted(os.listdir(tmp_path)) == ["d.keras"]

    # A writer killed mid-save: the atomic_file module alone (no TensorFlow import), SIGKILL inside the block.
    atomic_files = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "vqkeras", "utils", "atomic_files.py")
    child = (
        "import importlib.util, os, signal, sys\n"
        f"spec = importlib.util.spec_from_file_location('atomic_files', {atomic_files!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "with module.atomic_file(sys.argv[1], suffix='.keras') as temporary:\n"
        "    open(temporary, 'wb').write(b'half a zip')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", child, str(path)], check=False)
    assert result.returncode == -signal.SIGKILL
    left = [name for name in os.listdir(tmp_path) if name != "d.keras"]
    assert len(left) == 1 and left[0].startswith(".d.keras.tmp-") and left[0].endswith(".keras")
    live = tmp_path / f".d.keras.tmp-{os.getpid()}-0123456789ab.keras"  # a running writer's: kept
    live.write_bytes(b"in progress")
    d.save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["d.keras", live.name])
    assert keras.models.load_model(path).get_config() == d.get_config()
