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
    assert Image.open(tmp_path / "style.png").size == (6 * 28, 6 * 28)  # 6 rows: style image + 5 look-alikes


def test_generated_faces_are_not_copies_of_training_faces():
    """A face that copies a training face's codes decodes to that face's reconstruction (RMS distance 0 on [-1, 1]
    pixels; a near-copy differing in a few codes stays close to it). The threshold is measured, not fixed: half the
    5th percentile of the distance between each training reconstruction and its nearest *other* training
    reconstruction, i.e. well below the gap between two photos of the same person (10 photos each in ORL). Every
    generated face must lie further than that from every training reconstruction (people 1-36, the model's training
    split), and no generated token grid may equal a training token grid."""
    faces_path, _, _ = demo_paths(DEFAULT_MODELS_DIR)
    generator = keras.models.load_model(faces_path, safe_mode=True)
    train = np.concatenate(list(load_images("orl_faces", 64, channels=1, batch_size=60, split="train[:90%]",
                                            shuffle=False)))
    train_tokens = generator.encode(train).numpy()
    reconstructions = np.asarray(generator.decode(train_tokens))
    between = rms(reconstructions, reconstructions)
    np.fill_diagonal(between, np.inf)
    threshold = 0.5 * np.percentile(between.min(axis=1), 5)
    faces = np.asarray(generator.generate_face(16, seed=0))
    tokens = generator.generate_tokens(16, seed=0).numpy()
    nearest = rms(faces, reconstructions).min(axis=1)
    print(f"copy threshold {threshold:.3f}; generated nearest training reconstruction RMS "
          f"min {nearest.min():.3f}, median {np.median(nearest):.3f}")
    assert nearest.min() > threshold, (nearest, threshold)
    same = (tokens[:, None] == train_tokens[None]).reshape(len(tokens), len(train_tokens), -1).mean(-1)
    assert same.max() < 1.0, same.max()
