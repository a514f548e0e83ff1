import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import tiny_vqvae
from vqkeras.metrics import codebook_stats
from vqkeras.metrics import evaluate_model
from vqkeras.metrics import psnr
from vqkeras.metrics import ssim
from vqkeras.metrics.reconstruction import histogram_stats


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    model = tiny_vqvae(latent_dim=4)
    images = np.random.default_rng(0).uniform(-1, 1, (20, 16, 16, 1)).astype("float32")
    model(images[:1])
    return model, images


def test_psnr_and_ssim_match_tf_image(tiny):
    model, images = tiny
    x = (images + 1) / 2
    y = tf.clip_by_value((model(images, training=False) + 1) / 2, 0, 1)
    expected_psnr = float(tf.reduce_mean(tf.image.psnr(x, y, max_val=1.0)))
    expected_ssim = float(tf.reduce_mean(tf.image.ssim(x, y, max_val=1.0)))
    # Uneven batches (8, 8, 4): the mean is over images, not over batches.
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(20))).batch(8)
    assert psnr(model, dataset, verbose=0) == pytest.approx(expected_psnr, rel=1e-5)
    assert ssim(model, images, batch_size=8, verbose=0) == pytest.approx(expected_ssim, rel=1e-5)


def test_codebook_stats_match_numpy_histogram(tiny):
    model, images = tiny
    indices = model.encode(images).numpy().ravel()
    counts = np.bincount(indices, minlength=16)
    p = counts[counts > 0] / counts.sum()
    stats = codebook_stats(model, tf.data.Dataset.from_tensor_slices(images).batch(6), verbose=0)
    np.testing.assert_array_equal(stats["counts"], counts)
    assert stats["usage"] == pytest.approx(np.count_nonzero(counts) / 16)
    assert stats["perplexity"] == pytest.approx(np.exp(-np.sum(p * np.log(p))), rel=1e-9)


def test_evaluate_model_returns_all_metrics_in_one_pass(tiny):
    model, images = tiny
    result = evaluate_model(model, images, batch_size=7, verbose=0)
    assert set(result) == {"psnr", "ssim", "usage", "perplexity", "used_codes", "num_embeddings"}
    assert result["psnr"] == pytest.approx(psnr(model, images, verbose=0), rel=1e-5)
    assert result["usage"] == pytest.approx(codebook_stats(model, images, verbose=0)["usage"])
    assert result["num_embeddings"] == 16


def test_histogram_stats_extremes():
    assert histogram_stats(np.full(8, 5)) == {"usage": 1.0, "perplexity": pytest.approx(8.0), "used_codes": 8}
    assert histogram_stats([0, 9, 0, 0]) == {"usage": 0.25, "perplexity": pytest.approx(1.0), "used_codes": 1}
    with pytest.raises(ValueError, match="empty"):
        histogram_stats(np.zeros(4))
