import math

import numpy as np
import pytest
import tensorflow as tf
import keras

from vqkeras.priors import TransformerPrior
from vqkeras.priors import TransformerBlock
from vqkeras.samplers import Sampler

K = 11
GRID = (3, 4)
L = GRID[0] * GRID[1]


def _prior(**kwargs):
    args = dict(embed_dim=32, num_layers=2, num_heads=4, dropout=0.0)
    args.update(kwargs)
    keras.utils.set_random_seed(0)
    return TransformerPrior(K, GRID, **args)


@pytest.mark.parametrize("num_classes", [None, 3])
def test_kv_cache_matches_recompute_and_full_logits(num_classes):
    prior = _prior(num_classes=num_classes)
    labels = None if num_classes is None else np.array([0, 2, 1, 2])
    cached_tokens, cached_logits = prior.sample(4, seed=5, labels=labels, top_k=6, top_p=0.9, return_logits=True)
    full_tokens, full_logits = prior.sample_recompute(4, seed=5, labels=labels, top_k=6, top_p=0.9,
                                                      return_logits=True)
    np.testing.assert_array_equal(cached_tokens.numpy(), full_tokens.numpy())
    np.testing.assert_allclose(cached_logits.numpy(), full_logits.numpy(), atol=1e-5)
    # ... and both match the teacher-forced full-sequence logits of the sampled grid at every position
    np.testing.assert_allclose(prior.logits(cached_tokens, labels=labels).numpy(), cached_logits.numpy(), atol=1e-5)
    assert cached_tokens.dtype == tf.int32 and cached_tokens.shape == (4, *GRID)


def test_same_seed_same_tokens_different_seed_different_tokens():
    prior = _prior()
    a = prior.sample(6, seed=1).numpy()
    np.testing.assert_array_equal(a, prior.sample(6, seed=1).numpy())
    assert (a != prior.sample(6, seed=2).numpy()).any()


def test_causality():
    prior = _prior()
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, K, (2, L))
    base = prior.logits(tokens).numpy()
    for t in range(L):
        changed = tokens.copy()
        changed[:, t] = (changed[:, t] + 1 + rng.integers(0, K - 1, 2)) % K
        out = prior.logits(changed).numpy()
        np.testing.assert_array_equal(out[:, : t + 1], base[:, : t + 1])
        if t < L - 1:  # ... and token t does influence the later positions
            assert np.abs(out[:, t + 1:] - base[:, t + 1:]).max(-1).min() > 1e-6


def test_prefix_completion_keeps_prefix_and_continues_the_same_draw():
    prior = _prior()
    free = prior.sample(3, seed=4).numpy().reshape(3, L)
    prefix = np.array([[1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [10, 9, 8, 7, 6]])
    completed = prior.sample(3, seed=4, prefix=prefix).numpy().reshape(3, L)
    np.testing.assert_array_equal(completed[:, :5], prefix)
    # with its own first tokens as the prefix, a sample is reproduced exactly
    again = prior.sample(3, seed=4, prefix=free[:, :7]).numpy().reshape(3, L)
    np.testing.assert_array_equal(again, free)


def test_sample_graph_traces_with_tensor_arguments():
    prior = _prior()
    fn = tf.function(
        lambda n, seed, temperature, top_k, top_p: prior.sample_graph(n, seed, Sampler(temperature, top_k, top_p)),
        input_signature=[
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
        ],
    )
    out = fn(tf.constant(3), tf.constant([0, 9], tf.int64), tf.constant(0.8), tf.constant(5), tf.constant(0.95))
    expected = prior.sample(3, seed=9, temperature=0.8, top_k=5, top_p=0.95)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    # top_k <= 0 and top_p >= 1 switch the filters off
    out = fn(tf.constant(2), tf.constant([0, 9], tf.int64), tf.constant(1.0), tf.constant(0), tf.constant(1.0))
    np.testing.assert_array_equal(out.numpy(), prior.sample(2, seed=9).numpy())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k": 0}, "top_k=0"),
        ({"top_k": K + 1}, f"top_k={K + 1}"),
        ({"top_p": 0.0}, "top_p=0.0"),
        ({"top_p": 1.01}, "top_p=1.01"),
        ({"temperature": 0}, "temperature=0"),
        ({"num_samples": 0}, "num_samples=0"),
        ({"prefix": np.zeros((2, L + 1), int)}, "prefix"),
        ({"prefix": np.full((2, 3), K)}, "prefix tokens"),
        ({"labels": [0, 1]}, "unconditional"),
    ],
)
def test_sampling_errors(kwargs, message):
    args = {"num_samples": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        _prior().sample(**args)


def test_conditioned_prior_requires_labels_and_they_matter():
    prior = _prior(num_classes=2)
    with pytest.raises(ValueError, match="labels are required"):
        prior.sample(2, seed=0)
    tokens = np.zeros((1, L), int)
    assert np.abs(prior.logits(tokens, labels=[0]).numpy() - prior.logits(tokens, labels=[1]).numpy()).max() > 1e-4


def test_check_compatible_names_both_sides():
    prior = _prior()
    prior.check_compatible(K, GRID)
    with pytest.raises(ValueError, match=r"num_embeddings=11.*grid_shape=\(3, 4\).*num_embeddings=12"):
        prior.check_compatible(12, GRID)
    with pytest.raises(ValueError, match=r"grid_shape=\(4, 4\)"):
        prior.check_compatible(K, (4, 4))
    with pytest.raises(ValueError, match="tokens with shape"):
        prior.logits(np.zeros((1, 4, 4), int))


def test_constructor_errors():
    with pytest.raises(ValueError, match="embed_dim=30, num_heads=4"):
        TransformerPrior(K, GRID, embed_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="grid_shape"):
        TransformerPrior(K, (3,))
    with pytest.raises(ValueError, match="num_embeddings=1"):
        TransformerPrior(1, GRID)


def test_save_load_round_trip(tmp_path):
    prior = _prior(num_classes=3, dropout=0.1)
    tokens = np.random.default_rng(0).integers(0, K, (4, *GRID))
    labels = np.array([0, 1, 2, 0])
    path = str(tmp_path / "prior.keras")
    prior.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, TransformerPrior)
    assert loaded.get_config() == prior.get_config()
    np.testing.assert_array_equal(loaded.logits(tokens, labels).numpy(), prior.logits(tokens, labels).numpy())
    np.testing.assert_array_equal(
        loaded.sample(4, seed=3, labels=labels).numpy(), prior.sample(4, seed=3, labels=labels).numpy()
    )


def test_mlp_branch_matches_numpy():
    """`W₂ GELU(W₁ LN(x) + b₁) + b₂` with the exact (erf) GELU, against NumPy."""
    block = TransformerBlock(num_heads=2)
    x = np.random.default_rng(2).normal(size=(2, 5, 8)).astype("float32")
    block(x)
    normed = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    gamma, beta = (w.numpy() for w in block.mlp_norm.weights)
    w1, b1 = (w.numpy() for w in block.mlp_hidden.weights)
    w2, b2 = (w.numpy() for w in block.mlp_output.weights)
    hidden = (normed * gamma + beta) @ w1 + b1
    expected = (0.5 * hidden * (1 + np.vectorize(math.erf)(hidden / np.sqrt(2)))) @ w2 + b2
    np.testing.assert_allclose(block._mlp(x).numpy(), expected, atol=1e-4)


def test_configs_with_the_removed_mlp_activation_load_at_its_old_default_only():
    config = _prior().get_config()
    loaded = TransformerPrior.from_config({**config, "mlp_activation": "gelu"})  # a .keras file saved before
    assert "mlp_activation" not in loaded.get_config()
    with pytest.raises(ValueError, match="mlp_activation='relu'"):
        TransformerPrior.from_config({**config, "mlp_activation": "relu"})
    with pytest.raises(ValueError, match="mlp_activation='tanh'"):
        TransformerBlock(num_heads=2, mlp_activation="tanh")


def test_fit_reports_loss_accuracy_perplexity_and_accepts_labels():
    prior = _prior(num_classes=2)
    prior.compile(optimizer=keras.optimizers.Adam(1e-2))
    tokens = np.tile(np.arange(L) % K, (64, 1)).reshape(64, *GRID)
    labels = np.zeros(64, int)
    ds = tf.data.Dataset.from_tensor_slices((tokens, labels)).batch(16)
    history = prior.fit(ds, epochs=4, verbose=0).history
    assert set(history) >= {"loss", "accuracy", "perplexity"}
    np.testing.assert_allclose(history["perplexity"], np.exp(history["loss"]), rtol=1e-5)
    assert history["loss"][-1] < history["loss"][0]
    # x=(tokens, labels) works too, and evaluate reports the same metrics
    prior.fit(x=(tokens, labels), batch_size=16, epochs=1, verbose=0)
    result = prior.evaluate(ds, verbose=0, return_dict=True)
    assert result["accuracy"] > 0.9


def test_known_tokens_are_kept_and_logit_bias_steers_sampling():
    prior = TransformerPrior(8, (3, 3), embed_dim=16, num_layers=1, num_heads=2)
    known = np.arange(9).reshape(3, 3) % 8
    mask = np.zeros((3, 3), bool)
    mask[0, 1] = mask[2, 2] = True
    tokens = prior.sample(4, seed=1, known_tokens=known, known_mask=mask).numpy()
    assert (tokens[:, 0, 1] == 1).all() and (tokens[:, 2, 2] == 0).all()
    free = prior.sample(4, seed=1).numpy()
    assert not (free[:, 0, 1] == 1).all() or not (free[:, 2, 2] == 0).all()
    bias = np.full(8, -1e9, np.float32)
    bias[5] = 0.0
    assert (prior.sample(2, seed=1, logit_bias=bias).numpy() == 5).all()
    with pytest.raises(ValueError, match="not both"):
        prior.sample(1, prefix=[1], known_tokens=known, known_mask=mask)
    with pytest.raises(ValueError, match="go together"):
        prior.sample(1, known_tokens=known)
