"""Mixed precision with every quantizer family: the quantizer maths stays float32 (fast), and 200-step VQ-VAE fits
under mixed_bfloat16 / mixed_float16 are finite and use the codebook within 5 points of float32 (slow)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_vqvae_quantizers import MEMBERS
from tests.scale.test_mixed_precision import smooth_images
from tests.tiny_models import tiny_vqvae

STEPS = 200
BATCH = 8


@pytest.fixture
def policy_scope():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_quantizer_maths_is_float32_under_bfloat16(member, policy_scope):
    z = tf.constant(np.random.default_rng(0).normal(size=(4, 4, 4, 8)).astype("float32") * 2)
    reference = MEMBERS[member]()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    mixed = MEMBERS[member]()
    reference.build(z.shape)
    mixed.build(z.shape)
    for a, b in zip(reference.weights, mixed.weights):
        b.assign(a)
    assert all(w.dtype == "float32" for w in mixed.weights)
    z16 = tf.cast(z, "bfloat16")
    out = mixed.quantize_with_stats(z16)
    assert out["quantized"].dtype == tf.bfloat16
    # The same bfloat16 latents give the same indices through float32 maths: only a projection (a dense layer in
    # the compute dtype) may round differently, so compare the families without one exactly.
    expected = reference.quantize_with_stats(tf.cast(z16, "float32"))
    has_projection = getattr(mixed, "project_in", None) is not None or member == "gumbel"
    if not has_projection:
        np.testing.assert_array_equal(out["indices"].numpy(), expected["indices"].numpy())
    else:
        assert (out["indices"].numpy() == expected["indices"].numpy()).mean() > 0.9
    assert np.isfinite(out["loss"].numpy())


def fit(member, policy):
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = tiny_vqvae(quantizer=MEMBERS[member]())
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(smooth_images(STEPS * BATCH // 4), batch_size=BATCH, epochs=4, shuffle=False,
                        verbose=0).history
    keras.mixed_precision.set_global_policy("float32")
    return model, history


@pytest.mark.slow  # test_quantizer_maths_is_float32_under_bfloat16 is the fast check of the same property
@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_200_step_fits_are_finite_and_use_the_codebook_like_float32(member, policy_scope):
    _, reference = fit(member, "float32")
    for policy in ("mixed_bfloat16", "mixed_float16"):
        model, history = fit(member, policy)
        # Dynamic loss scaling (float16) skips the steps whose scaled gradients overflow: its first steps at most.
        skipped = STEPS - int(model.optimizer.iterations.numpy())
        assert skipped == 0 if policy == "mixed_bfloat16" else 0 <= skipped <= 5, (policy, skipped)
        for name, values in history.items():
            assert np.isfinite(values).all(), (policy, name)
        assert abs(history["codebook_usage"][-1] - reference["codebook_usage"][-1]) <= 0.05, (
            policy, history["codebook_usage"][-1], reference["codebook_usage"][-1])
