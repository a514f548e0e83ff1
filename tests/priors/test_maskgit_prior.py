"""MaskGITPrior: masking schedule and masked loss vs NumPy, iterative decoding, known tokens, scoring, learning."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.priors import MaskGITPrior
from vqkeras.priors import masking

K = 8
GRID = (4, 4)
N = GRID[0] * GRID[1]


def tiny_prior(**kwargs):
    args = dict(embed_dim=16, num_layers=1, num_heads=2, dropout=0.0, seed=3)
    args.update(kwargs)
    return MaskGITPrior(K, GRID, **args)


def random_tokens(n, seed=0):
    return np.random.default_rng(seed).integers(0, K, (n, *GRID)).astype("int32")


def numpy_masked_cross_entropy(logits, targets, mask):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return (nll * mask).sum() / mask.sum()


def numpy_training_mask(scores, r):
    count = np.clip(np.ceil(np.cos(np.pi * r / 2) * scores.shape[1]), 1, scores.shape[1]).astype(int)
    ranks = np.argsort(np.argsort(scores, axis=1, kind="stable"), axis=1, kind="stable")
    return ranks < count[:, None]


# ---------------------------------------------------------------------------------------------- schedule and loss
def test_cosine_schedule_and_mask_counts_match_numpy():
    r = np.array([0.0, 0.1, 0.5, 0.9, 0.999, 1.0], np.float32)
    np.testing.assert_allclose(masking.cosine_schedule(r).numpy(), np.cos(np.pi * r / 2), atol=1e-6)
    counts = masking.num_masked_for_ratio(masking.cosine_schedule(r), 16).numpy()
    np.testing.assert_array_equal(counts, np.clip(np.ceil(np.cos(np.pi * r / 2) * 16 - 1e-5), 1, 16))
    assert counts[0] == 16 and counts[-1] == 1  # everything at r=0, at least one target at r=1


def test_mask_for_ratio_matches_numpy():
    rng = np.random.default_rng(0)
    scores = rng.random((64, N)).astype("float32")
    r = rng.random(64).astype("float32")
    mask = masking.mask_for_ratio(tf.constant(scores), masking.cosine_schedule(r)).numpy()
    np.testing.assert_array_equal(mask, numpy_training_mask(scores, r))
    assert mask.sum(1).min() >= 1


def test_masked_cross_entropy_matches_numpy_and_ignores_unmasked_positions():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, N, K)).astype("float32") * 3
    targets = rng.integers(0, K, (3, N))
    mask = rng.random((3, N)) < 0.4
    loss = masking.masked_cross_entropy(logits, targets, mask).numpy()
    np.testing.assert_allclose(loss, numpy_masked_cross_entropy(logits, targets, mask), rtol=1e-5)
    # Changing the logits of unmasked positions leaves the loss unchanged; a masked one changes it.
    changed = logits.copy()
    changed[~mask] = rng.normal(size=(int((~mask).sum()), K)) * 10
    np.testing.assert_allclose(masking.masked_cross_entropy(changed, targets, mask).numpy(), loss, rtol=1e-5)
    b, i = np.argwhere(mask)[0]
    changed[b, i] += 5 * np.eye(K)[(targets[b, i] + 1) % K]
    assert abs(masking.masked_cross_entropy(changed, targets, mask).numpy() - loss) > 1e-3


def test_remaining_masked_follows_the_cosine_schedule():
    unknown = np.array([16, 10, 1, 0])
    steps = 8
    for t in range(steps):
        expected = np.floor(unknown * np.cos(np.pi / 2 * (t + 1) / steps)) if t < steps - 1 else 0 * unknown
        np.testing.assert_array_equal(masking.remaining_masked(unknown, tf.constant(t), tf.constant(steps)), expected)


def test_step_loss_is_the_masked_cross_entropy_of_the_seeded_mask():
    prior = tiny_prior(seed=7)
    tokens = random_tokens(16, seed=2)
    # The prior's masks come from SeedGenerator(7): r (batch,) first, then the scores (batch, N).
    generator = keras.random.SeedGenerator(7)
    r = keras.random.uniform((16,), seed=generator).numpy()
    scores = keras.random.uniform((16, N), seed=generator).numpy()
    mask = numpy_training_mask(scores, r)
    flat = tokens.reshape(16, N)
    inputs = np.where(mask, K, flat)
    logits = prior.logits(inputs).numpy()
    expected = numpy_masked_cross_entropy(logits, flat, mask)
    correct = (logits.argmax(-1) == flat)[mask].mean()
    prior.compile(optimizer="adam")
    result = prior.evaluate(tokens, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-4)
    np.testing.assert_allclose(result["accuracy"], correct, atol=1e-6)
    np.testing.assert_allclose(result["perplexity"], np.exp(expected), rtol=1e-4)


# ------------------------------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("steps", [1, 3, 8, 40])
def test_every_token_is_decided_after_t_steps(steps):
    prior = tiny_prior()
    tokens = prior.sample(6, seed=0, steps=steps).numpy()
    assert tokens.shape == (6, *GRID) and tokens.dtype == np.int32
    assert tokens.min() >= 0 and tokens.max() < K  # no [MASK] = K left
    single = prior.sample(1, seed=0, steps=steps).numpy()
    assert single.shape == (1, *GRID) and single.max() < K


def test_same_seed_same_tokens():
    prior = tiny_prior()
    first = prior.sample(8, seed=5, top_k=4, temperature=1.5).numpy()
    np.testing.assert_array_equal(first, prior.sample(8, seed=5, top_k=4, temperature=1.5).numpy())
    assert not np.array_equal(first, prior.sample(8, seed=6, top_k=4, temperature=1.5).numpy())


def test_known_tokens_never_change_and_only_unknown_ones_are_sampled():
    prior = tiny_prior()
    rng = np.random.default_rng(4)
    known_tokens = random_tokens(5, seed=4)
    known_mask = rng.random((5, *GRID)) < 0.5
    known_mask[0] = True  # fully known
    known_mask[1] = False  # fully unknown
    for steps in (1, 8):
        out = prior.sample(5, seed=1, steps=steps, known_tokens=known_tokens, known_mask=known_mask).numpy()
        np.testing.assert_array_equal(out[known_mask], known_tokens[known_mask])
        assert out.max() < K
    # A huge logit bias towards token 0 shows up in every unknown position and in no known one.
    bias = np.full(K, 0.0, np.float32)
    bias[0] = 1e4
    biased_tokens = np.where(known_tokens == 0, 1, known_tokens)
    out = prior.sample(5, seed=2, known_tokens=biased_tokens, known_mask=known_mask, logit_bias=bias).numpy()
    np.testing.assert_array_equal(out[known_mask], biased_tokens[known_mask])
    assert (out[~known_mask] == 0).all()


def test_sampling_sees_the_known_tokens():
    prior = tiny_prior()
    known_tokens = random_tokens(1, seed=9)
    known_mask = np.zeros((1, *GRID), bool)
    known_mask[0, :2] = True
    other = known_tokens.copy()
    other[0, :2] = (other[0, :2] + 3) % K
    a = prior.sample(32, seed=0, known_tokens=known_tokens, known_mask=known_mask, temperature=0.3).numpy()
    b = prior.sample(32, seed=0, known_tokens=other, known_mask=known_mask, temperature=0.3).numpy()
    assert not np.array_equal(a[:, 2:], b[:, 2:])


def test_sampling_argument_errors():
    prior = tiny_prior()
    with pytest.raises(ValueError, match="steps=0"):
        prior.sample(1, steps=0)
    with pytest.raises(ValueError, match="choice_temperature=-1"):
        prior.sample(1, choice_temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        prior.sample(1, top_k=K + 1)
    with pytest.raises(ValueError, match="known_tokens and known_mask"):
        prior.sample(1, known_tokens=random_tokens(1))


def test_class_conditioning():
    prior = tiny_prior(num_classes=3)
    with pytest.raises(ValueError, match="labels are required"):
        prior.sample(2, seed=0)
    tokens = prior.sample(4, seed=0, labels=[0, 1, 2, 0]).numpy()
    assert tokens.shape == (4, *GRID) and tokens.max() < K
    other = prior.sample(4, seed=0, labels=[1, 2, 0, 1]).numpy()
    assert not np.array_equal(tokens, other)  # the label reaches the logits
    prior.compile(optimizer="adam")
    loss = prior.evaluate((random_tokens(8), np.arange(8) % 3), batch_size=8, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(loss)
    probs = prior.token_probabilities(random_tokens(2), labels=[0, 1])
    assert probs.shape == (2, *GRID)


# -------------------------------------------------------------------------------------------------------- scoring
def test_token_probabilities_match_masking_each_position():
    prior = tiny_prior(num_layers=2)
    tokens = random_tokens(2, seed=5)
    flat = tokens.reshape(2, N)
    expected = np.zeros((2, N))
    for i in range(N):
        masked = flat.copy()
        masked[:, i] = K
        probs = tf.nn.softmax(prior.logits(masked), axis=-1).numpy()
        expected[:, i] = probs[np.arange(2), i, flat[:, i]]
    got = prior.token_probabilities(tokens, batch_size=7)
    np.testing.assert_allclose(got.reshape(2, N), expected, rtol=1e-4, atol=1e-6)
    # group_size = N masks everything at once: the marginals of the all-masked grid.
    all_masked = tf.nn.softmax(prior.logits(np.full((2, N), K)), axis=-1).numpy()
    marginal = np.take_along_axis(all_masked, flat[..., None], -1)[..., 0]
    np.testing.assert_allclose(prior.token_probabilities(tokens, group_size=N).reshape(2, N), marginal, rtol=1e-4)


# ---------------------------------------------------------------------------------------------------- persistence
def test_keras_round_trip(tmp_path):
    prior = tiny_prior(num_layers=2, choice_temperature=2.0, steps=5)
    path = str(tmp_path / "maskgit.keras")
    prior.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, MaskGITPrior)
    assert loaded.get_config() == prior.get_config()
    inputs = np.where(np.random.default_rng(0).random((3, *GRID)) < 0.5, K, random_tokens(3))
    np.testing.assert_allclose(loaded.logits(inputs).numpy(), prior.logits(inputs).numpy(), atol=1e-6)
    np.testing.assert_array_equal(loaded.sample(4, seed=3).numpy(), prior.sample(4, seed=3).numpy())
    clone = MaskGITPrior.from_config(prior.get_config())
    assert (clone.steps, clone.choice_temperature, clone.num_layers) == (5, 2.0, 2)


def test_constructor_errors():
    with pytest.raises(ValueError, match="embed_dim must be divisible"):
        MaskGITPrior(K, GRID, embed_dim=10, num_heads=4)
    with pytest.raises(ValueError, match="choice_temperature"):
        MaskGITPrior(K, GRID, choice_temperature=-0.5)
    with pytest.raises(ValueError, match="steps"):
        MaskGITPrior(K, GRID, steps=0)


# ------------------------------------------------------------------------------------------------------- learning
PROBS = np.array([0.5, 0.3, 0.2])


def _patterns():
    # The patterns of tests/priors/test_learning.py.
    rng = np.random.default_rng(123)
    patterns = rng.integers(0, K, (3, 16))
    patterns[1, :6] = patterns[0, :6]
    patterns[1, 6] = (patterns[0, 6] + 1) % K
    patterns[2, 0] = (patterns[0, 0] + 1) % K
    return patterns.reshape(3, *GRID)


def _frequencies(samples, patterns):
    flat = samples.reshape(len(samples), -1)
    matches = (flat[:, None, :] == patterns.reshape(1, 3, -1)).all(-1)
    return matches.mean(0), matches.any(-1).mean()


def test_maskgit_learns_pattern_distribution():
    keras.utils.set_random_seed(0)
    patterns = _patterns()
    which = np.repeat(np.arange(3), np.round(PROBS * 2048).astype(int))
    data = tf.data.Dataset.from_tensor_slices(patterns[which].astype(np.int32)).shuffle(2048, seed=0).batch(64)
    epochs = 24
    prior = MaskGITPrior(K, GRID, embed_dim=32, num_layers=2, num_heads=2, dropout=0.0, seed=0)
    prior.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, epochs * 32)))
    prior.fit(data, epochs=epochs, verbose=0)
    samples = prior.sample(400, seed=11).numpy()
    freq, valid = _frequencies(samples, patterns)
    assert valid >= 0.9, f"only {valid:.2f} of the samples are one of the patterns"
    np.testing.assert_allclose(freq, PROBS, atol=0.1)
