"""k-means initialisation of the codebook quantizers against NumPy Lloyd iterations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.quantizers import VectorQuantizer
from vqkeras.quantizers import VectorQuantizerEMA


def numpy_lloyd(rows, start, iters):
    codebook = start.astype("float64")
    for _ in range(iters):
        assigned = ((rows[:, None] - codebook[None]) ** 2).sum(-1).argmin(1)
        counts = np.bincount(assigned, minlength=len(codebook))
        sums = np.zeros_like(codebook)
        np.add.at(sums, assigned, rows)
        codebook = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], codebook)
    return codebook, counts


def blobs(rng, n=600, k=6, d=3):
    centres = rng.normal(size=(k, d)) * 5
    return (centres[rng.integers(0, k, n)] + rng.normal(size=(n, d)) * 0.3).astype("float32")


@pytest.mark.parametrize("cls", [VectorQuantizerEMA, VectorQuantizer])
def test_first_training_call_runs_lloyd_from_random_rows_then_never_again(cls, rng):
    rows = blobs(rng)
    vq = cls(8, 3, kmeans_init=True, kmeans_iters=5, seed=4, dead_code_threshold=0.0)
    vq.build(rows.shape)
    vq(rows, training=False)
    assert vq.kmeans_initialized.numpy() == 0  # evaluation changes nothing
    picks = keras.random.randint((8,), 0, 2**30, seed=keras.random.SeedGenerator(4), dtype="int32").numpy()
    expected, counts = numpy_lloyd(rows.astype("float64"), rows[picks % len(rows)], 5)
    vq.quantize_with_stats(rows, training=True)
    # The step that follows starts from the consistent state N = max(n, 1) (and m = e·N): n the rows of the last
    # Lloyd assignment; this batch's counts are those under the new codebook.
    n0 = np.maximum(counts, 1)
    assigned = ((rows[:, None] - expected[None]) ** 2).sum(-1).argmin(1)
    batch_counts = np.bincount(assigned, minlength=8)
    if cls is VectorQuantizer:
        np.testing.assert_allclose(vq.embeddings.numpy(), expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(vq.usage_ema.numpy(), 0.99 * n0 + 0.01 * batch_counts, rtol=1e-5)
    else:
        sums = np.zeros((8, 3))
        np.add.at(sums, assigned, rows)
        n = 0.99 * n0 + 0.01 * batch_counts
        m = 0.99 * expected * n0[:, None] + 0.01 * sums
        np.testing.assert_allclose(vq.ema_cluster_size.numpy(), n, rtol=1e-5)
        np.testing.assert_allclose(vq.ema_embed_sum.numpy(), m, rtol=1e-4, atol=1e-4)
    assert vq.kmeans_initialized.numpy() == 1
    before = vq.embeddings.numpy()
    vq.quantize_with_stats(rows[:50] + 100.0, training=True)  # far away: a second k-means would move every code
    assert np.abs(vq.embeddings.numpy() - before).max() < 50


def test_kmeans_init_inside_a_compiled_step(rng):
    rows = blobs(rng)
    vq = VectorQuantizerEMA(8, 3, kmeans_init=True, seed=1)
    vq.build(rows.shape)
    step = tf.function(lambda x: vq.quantize_with_stats(x, training=True)["loss"])
    first = step(rows).numpy()
    assert vq.kmeans_initialized.numpy() == 1
    # The compiled step clusters exactly as an eager one from the same seed (both draw the same starting rows).
    eager = VectorQuantizerEMA(8, 3, kmeans_init=True, seed=1)
    eager.build(rows.shape)
    np.testing.assert_allclose(first, eager.quantize_with_stats(rows, training=True)["loss"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(vq.embeddings.numpy(), eager.embeddings.numpy(), rtol=1e-5, atol=1e-6)
    # And the clustered codebook fits the blobs: the commitment loss β·mean‖z − q‖² is far below β times the rows'
    # variance about their mean (the loss of the best single code; a random codebook scores about 1). Lloyd can
    # stop in a local optimum that merges two of the six blobs, which keeps the loss up to about a quarter of it.
    variance = np.mean(np.sum((rows - rows.mean(0)) ** 2, axis=-1)) / rows.shape[-1]
    assert first < 0.4 * vq.commitment_cost * variance


def test_bad_kmeans_iters():
    with pytest.raises(ValueError, match="kmeans_iters=0"):
        VectorQuantizerEMA(8, 3, kmeans_init=True, kmeans_iters=0)
