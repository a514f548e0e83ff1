"""`export_saved_model`: signatures checked in a fresh Python without vqkeras, and by `saved_model_cli`."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import images
from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_pixelcnn_prior
from tests.tiny_models import tiny_vqgan
from tests.tiny_models import tiny_vqvae
from vqkeras.export import export_saved_model
from vqkeras.export import load_model
from vqkeras.export.export_saved_model import _image_shape
from vqkeras.export.export_saved_model import _version_dir

SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")
# (seed, temperature, top_k) of the `generate` calls compared with `ImageGenerator.generate_tokens`.
GENERATE_CASES = [(7, 1.0, 0), (3, 0.8, 5), (2**40 + 5, 1.3, 1)]


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An `ImageGenerator` exported once (over a stale version directory: `overwrite=True`), with the Keras model's
    outputs saved as `.npy` next to it."""
    root = tmp_path_factory.mktemp("export")
    generator = tiny_generator()
    x = images(5)
    stale = root / "generator" / "3"
    stale.mkdir(parents=True)
    (stale / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match=re.escape(str(stale)) + r".*overwrite=True"):
        export_saved_model(generator, root / "generator", version=3)
    assert (stale / "old.txt").exists()
    path = export_saved_model(generator, root / "generator", version=3, overwrite=True)
    assert path == str(stale) and not (stale / "old.txt").exists()
    indices = generator.tokenizer.encode(x).numpy()
    arrays = {
        "x": x,
        "x1": x[:1],
        "reconstructions": generator(x, training=False).numpy(),
        "indices": indices,
        "decoded": generator.decode(indices).numpy(),
    }
    for i, (seed, temperature, top_k) in enumerate(GENERATE_CASES):
        tokens = generator.generate_tokens(2 + i, seed=seed, temperature=temperature, top_k=top_k or None).numpy()
        arrays[f"tokens_{i}"] = tokens
        arrays[f"generated_{i}"] = generator.decode(tokens).numpy()
    for name, value in arrays.items():
        np.save(root / f"{name}.npy", value)
    return {"root": root, "path": Path(path), **arrays}


FRESH_PROCESS_CHECK = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    root, path, cases = sys.argv[1], sys.argv[2], eval(sys.argv[3])
    load = lambda name: np.load(f"{root}/{name}.npy")
    model = tf.saved_model.load(path)
    sigs = model.signatures
    assert sorted(sigs) == ["decode", "encode", "generate", "serving_default"], sorted(sigs)

    for x in (load("x"), load("x1")):  # two batch sizes: the batch is dynamic
        n = len(x)
        out = sigs["serving_default"](images=tf.constant(x))
        assert sorted(out) == ["reconstructions"]
        np.testing.assert_allclose(out["reconstructions"].numpy(), load("reconstructions")[:n], atol=1e-5)
        out = sigs["encode"](images=tf.constant(x))
        assert out["indices"].dtype == tf.int32
        np.testing.assert_array_equal(out["indices"].numpy(), load("indices")[:n])
        out = sigs["decode"](indices=tf.constant(load("indices")[:n]))
        np.testing.assert_allclose(out["images"].numpy(), load("decoded")[:n], atol=1e-5)

    for i, (seed, temperature, top_k) in enumerate(cases):
        out = sigs["generate"](
            num_images=tf.constant(2 + i, tf.int32), seed=tf.constant(seed, tf.int64),
            temperature=tf.constant(temperature, tf.float32), top_k=tf.constant(top_k, tf.int32),
        )
        assert sorted(out) == ["images", "tokens"]
        np.testing.assert_array_equal(out["tokens"].numpy(), load(f"tokens_{i}"))
        np.testing.assert_allclose(out["images"].numpy(), load(f"generated_{i}"), atol=1e-5)

    try:  # run-time checks reach the client as InvalidArgumentError
        sigs["decode"](indices=tf.fill([1, 4, 4], 16))
        raise SystemExit("out-of-range indices were accepted")
    except tf.errors.InvalidArgumentError as error:
        assert "codebook size" in str(error)
    assert "vqkeras" not in sys.modules, "the SavedModel must load without vqkeras"
    print("FRESH-PROCESS-OK")
    """
)


def test_signatures_in_a_fresh_process_without_vqkeras(exported):
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_CHECK, str(exported["root"]), str(exported["path"]), repr(GENERATE_CASES)],
        capture_output=True, text=True, env=_env(), cwd=exported["root"], timeout=300,
    )
    assert result.returncode == 0 and "FRESH-PROCESS-OK" in result.stdout, result.stderr[-3000:]


def test_layout_is_tf_serving_versioned(exported):
    path = exported["path"]
    assert path.name == "3" and path.parent.name == "generator"
    assert (path / "saved_model.pb").is_file() and (path / "variables" / "variables.index").is_file()


def test_saved_model_cli_show_lists_signatures_with_names_and_dtypes(exported):
    result = subprocess.run(
        [str(SAVED_MODEL_CLI), "show", "--dir", str(exported["path"]), "--all"],
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    for name in ("serving_default", "encode", "decode", "generate"):
        assert f"signature_def['{name}']" in text
    for name in ("images", "indices", "reconstructions", "num_images", "seed", "temperature", "top_k", "tokens"):
        assert f"['{name}'] tensor_info" in text
    assert "DT_INT64" in text and "DT_INT32" in text


def test_saved_model_cli_run_serving_default_on_npy(exported, tmp_path):
    result = subprocess.run(
        [
            str(SAVED_MODEL_CLI), "run", "--dir", str(exported["path"]), "--tag_set", "serve",
            "--signature_def", "serving_default", "--inputs", f"images={exported['root'] / 'x.npy'}",
            "--outdir", str(tmp_path),
        ],
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "reconstructions.npy"), exported["reconstructions"], atol=1e-5)


def test_load_model_reads_the_export_and_names_a_missing_variables_directory(exported, tmp_path):
    assert "generate" in load_model(exported["path"]).signatures
    with pytest.raises(ValueError, match=r"not a SavedModel directory.*versions 3"):
        load_model(exported["path"].parent)
    broken = tmp_path / "1"
    shutil.copytree(exported["path"], broken)
    shutil.rmtree(broken / "variables")
    with pytest.raises(ValueError, match=re.escape(f"The SavedModel at {broken} is missing its variables")):
        load_model(broken)


def test_tokenizer_shape_defaults_to_the_built_shape_and_a_new_version_needs_no_overwrite(tmp_path):
    model = tiny_vqvae()
    model(images(1, size=16))
    assert _image_shape(model, model, None, None) == (16, 16, 1)
    assert _image_shape(model, model, None, (None, 8, 8, 1)) == (8, 8, 1)
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "old.txt").write_text("x")
    assert _version_dir(tmp_path, 2, overwrite=False) == tmp_path / "2"
    with pytest.raises(ValueError, match="version must be a non-negative integer"):
        _version_dir(tmp_path, -1, overwrite=False)


def test_unbuilt_model_needs_input_shape_and_none_sizes_give_a_dynamic_image_size(tmp_path):
    model = tiny_vqgan(perceptual_weight=1.0)
    with pytest.raises(ValueError, match=r"never been built.*input_shape=\(H, W, C\)"):
        export_saved_model(model, tmp_path)
    with pytest.raises(ValueError, match=r"divisible by the downsampling factor 2"):
        export_saved_model(model, tmp_path, input_shape=(9, 9, 1))
    assert not model.built and not any(tmp_path.iterdir())

    signatures = tf.saved_model.load(export_saved_model(model, tmp_path, input_shape=(None, None, 1))).signatures
    assert sorted(signatures) == ["decode", "encode", "serving_default"]  # a tokenizer has no generate
    assert signatures["decode"].structured_input_signature[1]["indices"].shape.as_list() == [None, None, None]
    for size in (8, 16):
        x = images(2, size=size)
        out = signatures["encode"](images=tf.constant(x))["indices"].numpy()
        np.testing.assert_array_equal(out, model.encode(x).numpy())


@pytest.mark.slow
def test_class_conditioned_generate_takes_labels(tmp_path):
    generator = tiny_generator(tiny_pixelcnn_prior(num_classes=3))
    labels = np.array([0, 2], np.int32)
    expected = generator.generate_tokens(2, seed=11, labels=labels).numpy()
    generate = tf.saved_model.load(export_saved_model(generator, tmp_path)).signatures["generate"]
    assert sorted(generate.structured_input_signature[1]) == ["labels", "num_images", "seed", "temperature", "top_k"]
    out = generate(num_images=tf.constant(2), seed=tf.constant(11, tf.int64), temperature=tf.constant(1.0),
                   top_k=tf.constant(0), labels=tf.constant(labels))
    np.testing.assert_array_equal(out["tokens"].numpy(), expected)


def test_other_models_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="VQVAE, a VQGAN or an ImageGenerator.*PixelCNNPrior"):
        export_saved_model(tiny_pixelcnn_prior(), tmp_path)
