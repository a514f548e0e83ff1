import numpy as np
import pytest
import tensorflow as tf

from vqkeras.priors import sampling


def _distinct_logits(rows=6, k=20, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(k) * 0.37 + rng.normal(0, 0.01, k) for _ in range(rows)]).astype(np.float32)


def _np_top_p_keep(logits, p):
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    keep = np.zeros_like(logits, bool)
    for r in range(logits.shape[0]):
        order = np.argsort(-probs[r])
        cum = np.cumsum(probs[r][order])
        n = int(np.searchsorted(cum, p - 1e-7) + 1)  # smallest n with cum[n−1] ≥ p
        keep[r, order[: min(n, len(order))]] = True
    return keep


def test_temperature_scales_logits():
    logits = _distinct_logits()
    for t in (0.5, 1.0, 3.0):
        np.testing.assert_allclose(sampling.apply_temperature(logits, t).numpy(), logits / t, rtol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 7, 20])
def test_top_k_keeps_exactly_the_k_highest(k):
    logits = _distinct_logits()
    out = sampling.top_k_filter(logits, k).numpy()
    expected = np.zeros_like(logits, bool)
    np.put_along_axis(expected, np.argsort(-logits, -1)[:, :k], True, -1)
    np.testing.assert_array_equal(np.isfinite(out), expected)
    np.testing.assert_array_equal(out[expected], logits[expected])
    assert np.all(np.isneginf(out[~expected]))


def test_top_k_with_ties_keeps_exactly_k():
    out = sampling.top_k_filter(np.zeros((2, 10), np.float32), 4).numpy()
    assert (np.isfinite(out).sum(-1) == 4).all()


def test_top_k_tensor_argument_in_graph_and_disabled_when_nonpositive():
    logits = _distinct_logits()
    fn = tf.function(sampling.top_k_filter)
    np.testing.assert_array_equal(fn(logits, tf.constant(3)).numpy(), sampling.top_k_filter(logits, 3).numpy())
    np.testing.assert_array_equal(fn(logits, tf.constant(0)).numpy(), logits)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8, 0.95, 0.999, 1.0])
def test_top_p_keeps_smallest_set_with_mass_at_least_p(p):
    logits = _distinct_logits(rows=8, k=30, seed=1) * 0.6
    out = sampling.top_p_filter(logits, p).numpy()
    keep = np.isfinite(out)
    np.testing.assert_array_equal(keep, _np_top_p_keep(logits, p))
    np.testing.assert_array_equal(out[keep], logits[keep])
    # the top token always survives
    assert keep[np.arange(len(logits)), logits.argmax(-1)].all()


def test_top_p_keeps_top_token_for_tiny_p():
    logits = np.array([[0.0, 5.0, 1.0, 4.9]], np.float32)
    out = sampling.top_p_filter(logits, 1e-6).numpy()
    np.testing.assert_array_equal(np.isfinite(out), [[False, True, False, False]])


def test_sample_logits_same_seed_same_tokens_and_respects_filters():
    logits = tf.tile(_distinct_logits(rows=1, k=20) * 0.2, [4000, 1])
    a = sampling.sample_logits(logits, top_k=5, seed=7).numpy()
    b = sampling.sample_logits(logits, top_k=5, seed=7).numpy()
    c = sampling.sample_logits(logits, top_k=5, seed=8).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    allowed = set(np.argsort(-logits[0].numpy())[:5])
    assert set(np.unique(a)) <= allowed
    # empirical frequencies match the renormalised top-5 distribution
    top = np.argsort(-logits[0].numpy())[:5]
    probs = np.exp(logits[0].numpy()[top])
    probs /= probs.sum()
    freq = np.array([(a == t).mean() for t in top])
    np.testing.assert_allclose(freq, probs, atol=0.03)


def test_sample_logits_top_k_one_is_argmax():
    logits = _distinct_logits()
    np.testing.assert_array_equal(sampling.sample_logits(logits, top_k=1, seed=0).numpy(), logits.argmax(-1))


def test_low_temperature_approaches_argmax():
    logits = tf.tile(_distinct_logits(rows=1), [500, 1])
    out = sampling.sample_logits(logits, temperature=1e-3, seed=3).numpy()
    assert (out == np.argmax(logits[0])).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k": 0}, "top_k=0"),
        ({"top_k": 21}, "top_k=21"),
        ({"top_k": 2.5}, "top_k=2.5"),
        ({"top_p": 0.0}, "top_p=0.0"),
        ({"top_p": 1.5}, "top_p=1.5"),
        ({"top_p": -0.2}, "top_p=-0.2"),
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"temperature": -1.0}, "temperature=-1.0"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampling.sample_logits(_distinct_logits(), seed=0, **kwargs)
