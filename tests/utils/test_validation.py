"""`check_int`, the one integer check (the quantizers' and the architecture's too)."""

import numpy as np
import pytest

from vqkeras.layers.conv_stack import check_attention_levels
from vqkeras.quantizers import FSQ
from vqkeras.quantizers import ResidualQuantizer
from vqkeras.quantizers import VectorQuantizerEMA
from vqkeras.utils.validation import check_int


@pytest.mark.parametrize("value", [8.0, 1e4, np.float32(2.0), 8.7, float("nan"), True, np.bool_(True), "8", None])
def test_check_int_refuses_everything_but_integers(value):
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1\. Received: steps="):
        check_int("steps", value, minimum=1)


def test_check_int_returns_python_ints_and_checks_bounds():
    for value in (3, np.int64(3), np.uint8(3)):
        assert check_int("steps", value, minimum=1, maximum=3) == 3 and type(check_int("steps", value)) is int
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 2\]. Received: steps=3"):
        check_int("steps", 3, minimum=1, maximum=2)
    assert check_int("seed", None, allow_none=True) is None


def test_attention_levels_take_integers_only():
    assert check_attention_levels((np.int64(2), 0), 3) == (0, 2)
    for levels in [(1.0,), (np.float64(0.0),), (0, 0), (3,), "1"]:
        with pytest.raises(ValueError, match=r"attention_levels must be distinct level indices in \[0, 3\)"):
            check_attention_levels(levels, 3)


@pytest.mark.parametrize("make, message", [
    (lambda: VectorQuantizerEMA(num_embeddings=8.0, embedding_dim=4), "num_embeddings must be an integer >= 2"),
    (lambda: ResidualQuantizer(VectorQuantizerEMA(8, 4), depth=2.0), "depth must be an integer >= 1"),
    (lambda: FSQ((8, 5), embedding_dim=2.0), "embedding_dim must be an integer >= 1"),
])
def test_quantizers_use_the_same_check(make, message):
    with pytest.raises(ValueError, match=message + r"\. Received: \w+=2?8?\.0"):
        make()
