"""`vqkeras demo` on the shipped models: it writes the two PNGs, and the faces are new, not training copies."""

import keras
import numpy as np
from PIL import Image

from vqkeras.cli import DEFAULT_MODELS_DIR
from vqkeras.cli import demo_paths
from vqkeras.cli import main
from vqkeras.data import load_images


def rms(a, b):
    """RMS distance on [-1, 1] pixels between every image of `a` and every image of `b`: `(len(a), len(b))`."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    sq = (a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None]
    return np.sqrt(np.maximum(sq, 0) / a.shape[1])


def test_shipped_models_exist():
    for path in demo_paths(DEFAULT_MODELS_DIR):
        assert path.exists(), path


def test_demo_writes_faces_and_style_pngs(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "faces.png") in out and str(tmp_path / "style.png") in out
    assert Image.open(tmp_path / "faces.png").size == (8 * 64, 2 * 64)  # 16 faces, 64×64, 8 per row
    assert Image.open(tmp_path / "style.png").size == (6 * 32, 6 * 32)  # 6 rows: style image + 5 look-alikes


def test_generated_faces_are_not_copies_of_training_faces():
    """The threshold is measured, not fixed: a face the prior copied from its training set would decode to that
    face's reconstruction, whose distance to the original is the tokenizer's reconstruction error. So every
    generated face must lie further from its nearest training face than the 95th percentile of the reconstruction
    error over the training faces (people 1-36, the faces model's training split)."""
    faces_path, _, _ = demo_paths(DEFAULT_MODELS_DIR)
    generator = keras.models.load_model(faces_path, safe_mode=True)
    train = np.concatenate(list(load_images("orl_faces", 64, channels=1, batch_size=60, split="train[:90%]",
                                            shuffle=False)))
    reconstructions = np.clip(generator.predict(train, batch_size=60, verbose=0), -1, 1)
    copy_error = np.sqrt(((reconstructions - train) ** 2).reshape(len(train), -1).mean(1))
    threshold = np.percentile(copy_error, 95)
    faces = np.asarray(generator.generate_face(16, seed=0))
    nearest = rms(faces, train).min(axis=1)
    print(f"copy threshold (p95 reconstruction RMS) {threshold:.3f}; generated nearest-training RMS "
          f"min {nearest.min():.3f}, median {np.median(nearest):.3f}")
    assert nearest.min() > threshold, (nearest, threshold)
