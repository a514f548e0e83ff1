"""Mixed precision: 200-step VQVAE fits under mixed_float16 / mixed_bfloat16 stay finite and use the codebook like
float32; the quantizer state stays float32 and both VQGAN optimizers get loss scaling under mixed_float16."""

import keras
import numpy as np
import pytest

from tests.tiny_models import tiny_vqgan
from tests.tiny_models import tiny_vqvae
from vqkeras.layers import VectorQuantizerEMA

STEPS = 200
BATCH = 8


def smooth_images(n, size=8, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    a, b, c = rng.uniform(-1, 1, (3, n, 1, 1))
    return np.clip(a * xx + b * yy + c * 0.5, -1, 1)[..., None].astype("float32")


def fit_tiny_vqvae(policy):
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = tiny_vqvae(latent_dim=4, quantizer=VectorQuantizerEMA(16, 4, decay=0.9, seed=1, name="quantizer"))
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    x = smooth_images(STEPS * BATCH // 4)
    history = model.fit(x, batch_size=BATCH, epochs=4, shuffle=False, verbose=0).history
    return model, history


@pytest.fixture(scope="module")
def float32_usage():
    _, history = fit_tiny_vqvae("float32")
    keras.mixed_precision.set_global_policy("float32")
    return history["codebook_usage"][-1]


# bfloat16 needs no loss scaling and its fit is the same code path as float16's: in the slow set (about 40 s).
@pytest.mark.parametrize("policy", ["mixed_float16", pytest.param("mixed_bfloat16", marks=pytest.mark.slow)])
def test_200_step_fit_is_finite_and_uses_the_codebook_like_float32(policy, float32_usage):
    model, history = fit_tiny_vqvae(policy)
    assert int(model.optimizer.iterations.numpy()) == STEPS
    assert model.compute_dtype == policy.split("_")[1]
    # Quantizer maths and EMA state stay float32.
    for name in ("embeddings", "ema_cluster_size", "ema_embed_sum"):
        assert getattr(model.quantizer, name).dtype == "float32"
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    for weight in model.weights + model.optimizer.variables:
        assert np.all(np.isfinite(np.asarray(weight.numpy(), "float64"))), weight.path
    for name, values in history.items():
        assert np.all(np.isfinite(values)), (name, values)
    assert history["loss"][-1] < 0.7 * history["loss"][0], history["loss"]
    assert abs(history["codebook_usage"][-1] - float32_usage) <= 0.10, (history["codebook_usage"], float32_usage)


def applied_and_skipped_steps(optimizer):
    """A `LossScaleOptimizer`'s applied steps and the steps it skipped on non-finite gradients: each skip halves the
    dynamic scale from its initial 2**15 (it grows back only after 2,000 finite steps)."""
    skipped = np.log2(optimizer.initial_scale / float(optimizer.dynamic_scale.numpy()))
    assert skipped == int(skipped) and skipped >= 0, float(optimizer.dynamic_scale.numpy())
    return int(optimizer.iterations.numpy()), int(skipped)


def test_vqgan_scales_both_losses_under_mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    model = tiny_vqgan(latent_dim=4, base_channels=4, disc_filters=4, disc_start=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), discriminator_optimizer=keras.optimizers.Adam(1e-3))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(smooth_images(12), batch_size=4, epochs=1, shuffle=False, verbose=0).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), (name, values)
    # 3 steps: the generator scheduled 3 and the discriminator 2 (from disc_start=1). Dynamic loss scaling may skip the
    # first step of either on an overflow of the 2**15-scaled float16 gradients; every scheduled step was either
    # applied with unscaled, finite gradients or skipped with the scale halved, and each player applied at least one.
    for optimizer, scheduled in ((model.optimizer, 3), (model.discriminator_optimizer, 2)):
        applied, skipped = applied_and_skipped_steps(optimizer)
        assert applied + skipped == scheduled and applied >= 1, (optimizer.name, applied, skipped)
    for weight in model.weights + model.optimizer.variables + model.discriminator_optimizer.variables:
        assert np.all(np.isfinite(np.asarray(weight.numpy(), "float64"))), weight.path
