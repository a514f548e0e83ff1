"""What a prior answers for restoration: which positions to re-sample, how confident it is, its decoding options."""

import numpy as np
import pytest

from tests.tiny_models import tiny_prior
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior

CELLS = np.zeros((3, 4, 4), bool)
CELLS[0, 1, 2] = True  # raster position 6
CELLS[0, 3, 0] = True
CELLS[1, 0, 0] = True  # position 0: everything
# sample 2: nothing marked


@pytest.mark.parametrize("prior_cls", [TransformerPrior, PixelCNNPrior])
def test_autoregressive_priors_resample_from_the_first_marked_position(prior_cls):
    out = tiny_prior(prior_cls).positions_to_resample(CELLS)
    expected = np.zeros((3, 16), bool)
    expected[0, 6:] = True
    expected[1, :] = True
    np.testing.assert_array_equal(out, expected.reshape(3, 4, 4))


def test_maskgit_resamples_exactly_the_marked_cells():
    np.testing.assert_array_equal(tiny_prior(MaskGITPrior).positions_to_resample(CELLS), CELLS)


def test_token_confidence():
    tokens = np.random.default_rng(0).integers(0, 16, (2, 4, 4))
    prior = tiny_prior(TransformerPrior)
    logits = prior.logits(tokens).numpy().astype(np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    expected = np.take_along_axis(probs, tokens[..., None], -1)[..., 0]
    np.testing.assert_allclose(prior.token_confidence(tokens), expected, rtol=1e-5)
    maskgit = tiny_prior(MaskGITPrior)
    np.testing.assert_array_equal(maskgit.token_confidence(tokens, group_size=2),
                                  maskgit.token_probabilities(tokens, group_size=2))


def test_decoding_options():
    assert tiny_prior(TransformerPrior).decoding_options(3) == {}
    assert tiny_prior(MaskGITPrior).decoding_options(3) == {"steps": 3}
    for prior_cls in (TransformerPrior, MaskGITPrior):
        with pytest.raises(ValueError, match="steps must be an integer >= 1. Received: steps=0"):
            tiny_prior(prior_cls).decoding_options(0)
