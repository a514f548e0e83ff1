"""`vqkeras.samplers.TokenConstraints`: validation, its tensors against NumPy, and what a prior keeps."""

import numpy as np
import pytest

from tests.tiny_models import tiny_prior
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior
from vqkeras.samplers import TokenConstraints

L, K = 6, 5  # a (2, 3) grid and five tokens for `resolve`


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prefix": [1], "known_tokens": np.zeros((2, 3)), "known_mask": np.ones((2, 3))},
         "Give either prefix or known_tokens/known_mask, not both"),
        ({"known_tokens": np.zeros((2, 3))}, "known_tokens and known_mask go together. .*known_mask=None"),
        ({"known_mask": np.ones((2, 3))}, "known_tokens and known_mask go together. Received: known_tokens=None"),
        ({"logit_bias": [0.0, np.nan, 1.0, 0.0, 0.0]}, "logit_bias must be finite.*1 NaN or \\+inf"),
        ({"logit_bias": [np.inf, 0.0, 1.0, 0.0, 0.0]}, "logit_bias must be finite"),
    ],
)
def test_constructor_checks_what_needs_no_prior(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TokenConstraints(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prefix": np.zeros((2, L + 1), int)}, "prefix must have shape \\(num_samples=2, n\\) with n ≤ h·w=6"),
        ({"prefix": np.zeros((3, 2), int)}, "Received: prefix with shape \\(3, 2\\)"),
        ({"prefix": [0, K]}, "prefix tokens must be in \\[0, 5\\). Received values in \\[0, 5\\]"),
        ({"known_tokens": np.full((2, 3), -1), "known_mask": np.ones((2, 3))}, "known_tokens must be in \\[0, 5\\)"),
        ({"logit_bias": np.full(K, -np.inf)}, "logit_bias excludes every one of the K=5 tokens.*sample\\(s\\) \\[0, 1\\]"),
        ({"logit_bias": np.stack([np.zeros(K), np.full(K, -np.inf)])}, "in sample\\(s\\) \\[1\\]"),
    ],
)
def test_resolve_checks_shapes_and_ranges_against_the_prior(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TokenConstraints(**kwargs).resolve(2, L, K)


def test_resolve_against_numpy():
    empty = TokenConstraints().resolve(2, L, K)
    np.testing.assert_array_equal(empty.tokens.numpy(), np.zeros((2, L)))
    assert not empty.mask.numpy().any() and not empty.logit_bias.numpy().any()

    prefix = TokenConstraints(prefix=[3, 1], logit_bias=np.arange(K, dtype=np.float32)).resolve(2, L, K)
    np.testing.assert_array_equal(prefix.tokens.numpy(), [[3, 1, 0, 0, 0, 0]] * 2)
    np.testing.assert_array_equal(prefix.mask.numpy(), [[True, True, False, False, False, False]] * 2)
    np.testing.assert_array_equal(prefix.logit_bias.numpy(), np.tile(np.arange(K), (2, 1)))

    grid = np.arange(L).reshape(2, 3) % K
    keep = np.array([[True, False, True], [False, False, True]])
    known = TokenConstraints(known_tokens=grid, known_mask=keep).resolve(3, L, K)
    np.testing.assert_array_equal(known.tokens.numpy(), np.tile(grid.reshape(1, L), (3, 1)))
    np.testing.assert_array_equal(known.mask.numpy(), np.tile(keep.reshape(1, L), (3, 1)))
    assert known.tokens.dtype == "int32" and known.mask.dtype == "bool" and known.logit_bias.dtype == "float32"


@pytest.mark.parametrize("prior_cls", [TransformerPrior, PixelCNNPrior, MaskGITPrior])
def test_a_prefix_is_the_known_mask_of_its_positions(prior_cls):
    """The same tokens from `prefix`, from the equivalent known tokens and mask, and from the objects."""
    prior = tiny_prior(prior_cls)
    rng = np.random.default_rng(0)
    prefix = rng.integers(0, prior.num_embeddings, (2, 5))
    grid = np.zeros((2, prior.sequence_length), int)
    grid[:, :5] = prefix
    mask = np.arange(prior.sequence_length)[None].repeat(2, 0) < 5
    by_prefix = prior.sample(2, seed=3, prefix=prefix).numpy()
    np.testing.assert_array_equal(by_prefix.reshape(2, -1)[:, :5], prefix)
    shape = (2, *prior.grid_shape)
    by_mask = prior.sample(2, seed=3, known_tokens=grid.reshape(shape), known_mask=mask.reshape(shape)).numpy()
    np.testing.assert_array_equal(by_prefix, by_mask)
    by_object = prior.sample(2, seed=3, constraints=TokenConstraints(prefix=prefix)).numpy()
    np.testing.assert_array_equal(by_prefix, by_object)
    with pytest.raises(ValueError, match="Give constraints= or its fields \\(prefix\\), not both"):
        prior.sample(2, seed=3, constraints=TokenConstraints(), prefix=prefix)
    with pytest.raises(ValueError, match="constraints must be a vqkeras.samplers.TokenConstraints"):
        prior.sample(2, seed=3, constraints={"prefix": prefix})


def test_logit_bias_of_minus_inf_excludes_tokens():
    prior = tiny_prior(TransformerPrior)
    bias = np.full(prior.num_embeddings, -np.inf, np.float32)
    bias[[2, 7]] = 0.0
    tokens = prior.sample(4, seed=1, constraints=TokenConstraints(logit_bias=bias)).numpy()
    assert set(np.unique(tokens)) <= {2, 7}
