"""`.keras` round trips of every public model, the `.h5` verdict, and `load_model`'s errors on broken files.

A SavedModel missing its variables is tested with the exported model in `test_export_saved_model.py`.
"""

import zipfile

import keras
import numpy as np
import pytest

import vqkeras
from tests.tiny_models import images
from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_pixelcnn_prior
from tests.tiny_models import tiny_transformer_prior
from tests.tiny_models import tiny_vqgan
from tests.tiny_models import tiny_vqvae
from vqkeras.export import load_model
from vqkeras.models import PatchDiscriminator

TOKENS = np.random.default_rng(1).integers(0, 16, (3, 4, 4)).astype("int32")


def _outputs(model):
    """Deterministic outputs that depend on every part of the model."""
    if hasattr(model, "prior"):
        return [model(images(3)), model.generate_tokens(3, seed=4, top_k=8), model.decode(TOKENS)]
    if hasattr(model, "sample"):
        return [model.logits(TOKENS), model.sample(2, seed=4)]
    if hasattr(model, "encode"):
        return [model(images(3)), model.encode(images(3))]
    return [model(images(3), training=False)]


MODELS = {
    "VQVAE": lambda: tiny_vqvae(),
    "VQGAN": lambda: tiny_vqgan(perceptual_weight=1.0),
    "ImageGenerator": lambda: tiny_generator(),
    "TransformerPrior": lambda: tiny_transformer_prior(),
    "PixelCNNPrior": lambda: tiny_pixelcnn_prior(),
    "PatchDiscriminator": lambda: PatchDiscriminator(num_layers=1, filters=8, norm="group", norm_groups=4),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_round_trip_with_safe_mode_gives_identical_outputs(name, tmp_path):
    model = MODELS[name]()
    expected = _outputs(model)  # also builds the model
    path = tmp_path / "model.keras"
    model.save(path)
    for loaded in (keras.models.load_model(path, safe_mode=True), load_model(path)):
        assert type(loaded) is type(model)
        for got, want in zip(_outputs(loaded), expected):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("name", ["vqvae_model.h5", "model.HDF5"])
def test_model_save_refuses_legacy_h5_before_writing(tmp_path, name):
    model = tiny_vqvae()
    model(images(1))
    with pytest.raises(ValueError, match=r"filepath must end in \.keras.*model\.save_weights.*Received: filepath="):
        model.save(tmp_path / name)
    assert not (tmp_path / name).exists()
    model.save_weights(tmp_path / "ok.weights.h5")  # the weights route still works
    assert (tmp_path / "ok.weights.h5").exists()


def test_legacy_h5_written_by_keras_cannot_be_loaded_and_load_model_says_what_to_use(tmp_path):
    model = tiny_vqvae()
    x = images(2)
    expected = model(x).numpy()
    path = tmp_path / "vqvae_model.h5"
    keras.saving.save_model(model, path)  # Keras 3 still writes legacy .h5 (model.save refuses it) ...
    with pytest.raises(Exception):  # ... but cannot read it back: if this starts to pass, revisit load_model
        keras.models.load_model(path)
    # With the class given, Keras' legacy loader reads it (the backbone's layers are built with their weights).
    legacy = keras.models.load_model(path, custom_objects={"VQVAE": vqkeras.models.VQVAE})
    np.testing.assert_array_equal(legacy(x).numpy(), expected)
    with pytest.raises(ValueError, match=r"vqkeras VQVAE.*\.keras.*\.weights\.h5"):
        load_model(path)
    # The recovery the message gives: build the same model and read the weights from the .h5 file.
    recovered = tiny_vqvae()
    recovered.build((None, 8, 8, 1))
    recovered.load_weights(path)
    np.testing.assert_array_equal(recovered(x).numpy(), expected)


def test_weights_h5_round_trip(tmp_path):
    model = tiny_vqvae()
    x = images(2)
    expected = model(x).numpy()
    path = tmp_path / "vqvae.weights.h5"
    model.save_weights(path)
    loaded = tiny_vqvae()
    loaded.build((None, 8, 8, 1))
    assert not np.array_equal(loaded(x).numpy(), expected)  # a fresh init differs ...
    loaded.load_weights(path)
    np.testing.assert_array_equal(loaded(x).numpy(), expected)  # ... the saved weights match
    with pytest.raises(ValueError, match=r"weights only.*load_weights"):
        load_model(path)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    model = tiny_vqvae()
    model(images(1))
    model.save(path)
    return path


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "not a valid .keras file.*not a zip archive"),
        (lambda data: data[:100] + bytes(b ^ 0xFF for b in data[100:400]) + data[400:], "corrupted"),
        (lambda data: b"", "not a valid .keras file"),
    ],
    ids=["truncated", "flipped-bytes", "empty"],
)
def test_broken_keras_file_gives_one_clear_error(keras_file, tmp_path, damage, message):
    path = tmp_path / "broken.keras"
    path.write_bytes(damage(keras_file.read_bytes()))
    with pytest.raises(ValueError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.keras"):
        load_model(tmp_path / "nope.keras")
    (tmp_path / "model.pkl").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.keras file or a SavedModel directory"):
        load_model(tmp_path / "model.pkl")


def test_keras_file_with_a_broken_config_gives_one_clear_error(keras_file, tmp_path):
    path = tmp_path / "broken_config.keras"
    with zipfile.ZipFile(keras_file) as source, zipfile.ZipFile(path, "w") as target:
        for member in source.namelist():
            target.writestr(member, b"{not json" if member == "config.json" else source.read(member))
    with pytest.raises(ValueError, match=r"Could not load .*broken_config.keras as a vqkeras .keras model: JSONDecode"):
        load_model(path)
