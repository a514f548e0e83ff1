import numpy as np
import pytest
import tensorflow as tf

from vqkeras.layers import VectorQuantizerEMA


def numpy_ema_step(z, codebook, cluster_size, embed_sum, decay, epsilon):
    """The rule of the docstring: N ← γN + (1−γ)n, m ← γm + (1−γ)Σz, Ñ = (N+ε)/(ΣN+Kε)·ΣN, e = m/Ñ."""
    k = codebook.shape[0]
    idx = ((z[:, None, :] - codebook[None]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(idx, minlength=k).astype("float64")
    sums = np.zeros_like(codebook)
    np.add.at(sums, idx, z)
    cluster_size = decay * cluster_size + (1 - decay) * counts
    embed_sum = decay * embed_sum + (1 - decay) * sums
    total = cluster_size.sum()
    smoothed = (cluster_size + epsilon) / (total + k * epsilon) * total
    return embed_sum / smoothed[:, None], cluster_size, embed_sum


@pytest.mark.parametrize("steps", [1, 3])
def test_ema_update_matches_numpy(steps):
    rng = np.random.default_rng(0)
    vq = VectorQuantizerEMA(8, 4, decay=0.9, epsilon=1e-3, dead_code_threshold=0.0)
    batches = [rng.normal(size=(2, 5, 5, 4)).astype("float32") for _ in range(steps)]
    vq.build(batches[0].shape)
    codebook = vq.embeddings.numpy().astype("float64")
    cluster_size = np.ones(8)
    embed_sum = codebook.copy()
    for batch in batches:
        vq(batch, training=True)
        codebook, cluster_size, embed_sum = numpy_ema_step(
            batch.reshape(-1, 4).astype("float64"), codebook, cluster_size, embed_sum, 0.9, 1e-3
        )
    np.testing.assert_allclose(vq.ema_cluster_size.numpy(), cluster_size, rtol=1e-5)
    np.testing.assert_allclose(vq.ema_embed_sum.numpy(), embed_sum, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vq.embeddings.numpy(), codebook, rtol=1e-4, atol=1e-5)


def test_initial_state_is_consistent_and_unused_codes_stay_put():
    vq = VectorQuantizerEMA(16, 4, dead_code_threshold=0.0)
    z = np.full((1, 4), 5.0, "float32")  # every step uses the same single code
    vq.build(z.shape)
    start = vq.embeddings.numpy()
    np.testing.assert_array_equal(vq.ema_embed_sum.numpy(), start)  # m = e
    np.testing.assert_array_equal(vq.ema_cluster_size.numpy(), np.ones(16))  # N = 1
    used = int(vq.get_code_indices(z).numpy()[0])
    for _ in range(20):
        vq(z, training=True)
    unused = np.arange(16) != used
    # e = γᵗe / (γᵗ(1 + O(ε))): unused codes neither collapse to zero nor blow up over the first steps.
    np.testing.assert_allclose(vq.embeddings.numpy()[unused], start[unused], rtol=1e-3)
    # The state keeps the unsmoothed counts.
    np.testing.assert_allclose(vq.ema_cluster_size.numpy()[unused], 0.99**20, rtol=1e-5)


def test_codebook_not_trainable_and_frozen_outside_training():
    vq = VectorQuantizerEMA(8, 4)
    z = np.random.default_rng(1).normal(size=(3, 4, 4)).astype("float32")
    vq.build(z.shape)
    assert vq.trainable_weights == []
    assert all(not w.trainable for w in (vq.embeddings, vq.ema_cluster_size, vq.ema_embed_sum))
    before = [w.numpy().copy() for w in vq.weights]
    vq(z)
    vq(z, training=False)
    tf.function(lambda x: vq(x, training=False))(z)
    for b, w in zip(before, vq.weights):
        np.testing.assert_array_equal(b, w.numpy())
    tf.function(lambda x: vq(x, training=True))(z)
    assert not np.array_equal(before[0], vq.embeddings.numpy())


def test_commitment_loss_value():
    vq = VectorQuantizerEMA(8, 4, commitment_cost=0.3)
    z = np.random.default_rng(2).normal(size=(10, 4)).astype("float32")
    vq.build(z.shape)
    e = vq.embeddings.numpy()[vq.get_code_indices(z).numpy()]
    out = vq.quantize_with_stats(z, training=False)
    np.testing.assert_allclose(out["loss"].numpy(), 0.3 * np.mean((z - e) ** 2), rtol=1e-5)


def _far_codebook_quantizer(threshold, rng):
    """32 codes: two near the origin, thirty far away where no data will ever be (dead codes)."""
    vq = VectorQuantizerEMA(32, 2, decay=0.5, dead_code_threshold=threshold, seed=1)
    vq.build((None, 2))
    codebook = np.concatenate([[[0.5, 0.5], [-0.5, -0.5]], 100 + rng.normal(size=(30, 2))]).astype("float32")
    vq.embeddings.assign(codebook)
    vq.ema_embed_sum.assign(codebook)  # N = 1, m = e
    return vq


def test_dead_code_restart_revives_codes_with_consistent_state():
    rng = np.random.default_rng(3)
    batches = [rng.normal(size=(512, 2)).astype("float32") for _ in range(8)]
    baseline = _far_codebook_quantizer(0.0, rng)
    vq = _far_codebook_quantizer(0.05, rng)
    usage, baseline_usage, checked = [], [], False
    for batch in batches:
        baseline_usage.append(float(baseline.quantize_with_stats(batch, training=True)["codebook_usage"]))
        usage.append(float(vq.quantize_with_stats(batch, training=True)["codebook_usage"]))
        # A code restarted on this step has N = threshold and m = e·threshold, and is a vector of this batch.
        restarted = np.isclose(vq.ema_cluster_size.numpy(), 0.05)
        if restarted.any():
            checked = True
            np.testing.assert_allclose(
                vq.ema_embed_sum.numpy()[restarted], vq.embeddings.numpy()[restarted] * 0.05, rtol=1e-5, atol=1e-7
            )
            rows = {tuple(v) for v in batch}
            assert all(tuple(v) in rows for v in vq.embeddings.numpy()[restarted])
    assert checked
    assert usage[0] == baseline_usage[0] == 2 / 32
    assert baseline_usage[-1] == 2 / 32  # without restarts the far codes stay dead
    assert usage[-1] > 0.75  # with restarts they were re-drawn from the data and are used
    assert vq.quantize_with_stats(batches[0], training=False)["codebook_alive"] > 0.5


def test_epsilon_must_be_positive():
    with pytest.raises(ValueError, match="epsilon=0"):
        VectorQuantizerEMA(4, 4, epsilon=0)
