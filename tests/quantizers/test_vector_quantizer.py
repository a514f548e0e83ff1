import numpy as np
import tensorflow as tf

from vqkeras.layers import VectorQuantizer


def test_loss_puts_beta_on_the_commitment_term():
    """L = ‖sg(z) − e‖² + β‖z − sg(e)‖²: dL/dz = 2β(z − e)/n and dL/de = 2(e − z)/n."""
    beta = 0.25
    vq = VectorQuantizer(6, 3, commitment_cost=beta)
    z = tf.Variable(np.random.default_rng(0).normal(size=(5, 3)).astype("float32"))
    vq.build(z.shape)
    idx = vq.get_code_indices(z).numpy()
    with tf.GradientTape(persistent=True) as tape:
        loss = vq.quantize_with_stats(z, training=False)["loss"]
    e = vq.embeddings.numpy()[idx]
    n = z.numpy().size
    np.testing.assert_allclose(loss.numpy(), (1 + beta) * np.mean((z.numpy() - e) ** 2), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), 2 * beta * (z.numpy() - e) / n, rtol=1e-4, atol=1e-7)
    grad_e = np.zeros_like(vq.embeddings.numpy())
    np.add.at(grad_e, idx, 2 * (e - z.numpy()) / n)
    np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(loss, vq.embeddings)).numpy(), grad_e, rtol=1e-4, atol=1e-7)


def test_codebook_is_trainable_and_usage_only_changes_in_training():
    vq = VectorQuantizer(6, 3)
    z = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    vq.build(z.shape)
    assert [w.name for w in vq.trainable_weights] == ["embeddings"]
    usage = vq.usage_ema.numpy().copy()
    vq(z, training=False)
    np.testing.assert_array_equal(vq.usage_ema.numpy(), usage)
    vq(z, training=True)
    assert not np.array_equal(vq.usage_ema.numpy(), usage)


def test_optional_dead_code_restart_resets_usage():
    vq = VectorQuantizer(16, 2, decay=0.0, dead_code_threshold=0.5, seed=0)
    z = np.random.default_rng(2).normal(size=(64, 2)).astype("float32")
    vq.build(z.shape)
    vq(z[:1], training=True)  # one vector: 15 codes unused, so restarted
    restarted = np.isclose(vq.usage_ema.numpy(), 0.5)
    assert restarted.sum() >= 14
    assert all(any(np.allclose(v, row) for row in z[:1]) for v in vq.embeddings.numpy()[restarted])
