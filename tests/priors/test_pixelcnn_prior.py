import numpy as np
import pytest
import tensorflow as tf
import keras

from vqkeras.priors import GatedPixelCNNBlock
from vqkeras.priors import PixelCNNPrior

K = 9
GRID = (5, 5)
L = GRID[0] * GRID[1]


def _prior(**kwargs):
    # 4 layers with k=3 reach 4 rows / columns: the whole previous context of a 5×5 grid.
    args = dict(embed_dim=16, num_layers=4, kernel_size=3)
    args.update(kwargs)
    keras.utils.set_random_seed(0)
    return PixelCNNPrior(K, GRID, **args)


def _dependence(prior, labels=None):
    """dep[t, s] = True iff changing token s changes the logits at position t."""
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, K, (1, L))
    base = prior.logits(tokens, labels).numpy()[0]
    dep = np.zeros((L, L), bool)
    for s in range(L):
        changed = tokens.copy()
        changed[0, s] = (changed[0, s] + 1 + rng.integers(0, K - 1)) % K
        dep[:, s] = np.abs(prior.logits(changed, labels).numpy()[0] - base).max(-1) > 1e-7
    return dep


@pytest.mark.parametrize("num_classes", [None, 2])
def test_causal_and_no_blind_spot(num_classes):
    prior = _prior(num_classes=num_classes)
    labels = None if num_classes is None else np.array([1])
    dep = _dependence(prior, labels)
    # never depends on the current or a later position ...
    assert not np.triu(dep).any()
    # ... and depends on every earlier raster position, including the blind-spot pixels up-right of (i, j)
    np.testing.assert_array_equal(dep, np.tril(np.ones((L, L), bool), -1))
    row, col = 2, 1
    t = row * GRID[1] + col
    for up_right in range(col + 1, GRID[1]):
        assert dep[t, (row - 1) * GRID[1] + up_right]


def test_dependence_check_detects_a_too_small_receptive_field():
    # One k=3 layer sees only one column to the right in the row above: the test above would fail for it.
    dep = _dependence(_prior(num_layers=1))
    assert not np.triu(dep).any()
    assert not dep[2 * GRID[1] + 1, 1 * GRID[1] + 3]


def test_sampling_logits_match_full_logits_and_seed_is_reproducible():
    prior = _prior()
    tokens, logits = prior.sample(3, seed=2, top_k=5, return_logits=True)
    np.testing.assert_allclose(prior.logits(tokens).numpy(), logits.numpy(), atol=1e-5)
    np.testing.assert_array_equal(tokens.numpy(), prior.sample(3, seed=2, top_k=5).numpy())
    assert (tokens.numpy() != prior.sample(3, seed=3, top_k=5).numpy()).any()
    assert tokens.dtype == tf.int32 and tokens.shape == (3, *GRID)


def test_prefix_completion_keeps_prefix():
    prior = _prior()
    prefix = np.arange(8) % K
    out = prior.sample(2, seed=0, prefix=prefix).numpy().reshape(2, L)
    np.testing.assert_array_equal(out[:, :8], np.tile(prefix, (2, 1)))
    free = prior.sample(2, seed=0).numpy().reshape(2, L)
    np.testing.assert_array_equal(prior.sample(2, seed=0, prefix=free[:, :6]).numpy().reshape(2, L), free)


def test_errors():
    prior = _prior()
    with pytest.raises(ValueError, match="top_k=10"):
        prior.sample(1, top_k=10)
    with pytest.raises(ValueError, match="temperature=-0.5"):
        prior.sample(1, temperature=-0.5)
    with pytest.raises(ValueError, match="mask_type='C'"):
        GatedPixelCNNBlock("C")
    with pytest.raises(ValueError, match="kernel_size=4"):
        GatedPixelCNNBlock("A", kernel_size=4)
    with pytest.raises(ValueError, match=r"num_embeddings=9 and grid_shape=\(5, 5\)"):
        prior.check_compatible(9, (4, 4))


def test_save_load_round_trip(tmp_path):
    prior = _prior(num_classes=3)
    tokens = np.random.default_rng(0).integers(0, K, (2, *GRID))
    labels = np.array([2, 0])
    path = str(tmp_path / "pixelcnn.keras")
    prior.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, PixelCNNPrior)
    assert loaded.get_config() == prior.get_config()
    np.testing.assert_array_equal(loaded.logits(tokens, labels).numpy(), prior.logits(tokens, labels).numpy())
    np.testing.assert_array_equal(
        loaded.sample(2, seed=1, labels=labels).numpy(), prior.sample(2, seed=1, labels=labels).numpy()
    )
