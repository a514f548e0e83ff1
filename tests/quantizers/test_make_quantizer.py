"""`make_quantizer` (the command line's `--quantizer NAME`) and `vqkeras train --quantizer`."""

import keras
import pytest

from tests.test_cli import TINY
from tests.test_cli import run
from vqkeras.quantizers import FSQ
from vqkeras.quantizers import LFQ
from vqkeras.quantizers import GumbelQuantizer
from vqkeras.quantizers import ResidualQuantizer
from vqkeras.quantizers import VectorQuantizer
from vqkeras.quantizers import VectorQuantizerEMA
from vqkeras.quantizers import make_quantizer


@pytest.mark.parametrize("name, options, cls, check", [
    ("ema", {"kmeans_init": True}, VectorQuantizerEMA, lambda q: q.kmeans_init and q.num_embeddings == 64),
    ("gradient", {}, VectorQuantizer, lambda q: q.num_embeddings == 64),
    ("fsq", {"levels": (8, 5, 5, 5)}, FSQ, lambda q: q.codebook_size == 1000 and not q.preserve_symmetry),
    ("fsq", {"levels": (2, 5, 5, 5)}, FSQ, lambda q: q.preserve_symmetry),
    ("lfq", {"num_bits": 10}, LFQ, lambda q: q.codebook_size == 1024 and not q.spherical),
    ("bsq", {"num_bits": 10}, LFQ, lambda q: q.spherical),
    ("gumbel", {}, GumbelQuantizer, lambda q: q.codebook_size == 64),
    ("residual", {"depth": 2}, ResidualQuantizer, lambda q: q.index_shape == (2,) and not q.is_fsq),
    ("residual", {"levels": (3,) * 16}, ResidualQuantizer, lambda q: q.index_shape == (4,) and q.is_fsq),
])
def test_every_name_builds_its_family(name, options, cls, check):
    quantizer = make_quantizer(name, 16, num_embeddings=64, **options)
    assert type(quantizer) is cls and quantizer.embedding_dim == 16 and quantizer.name == "quantizer"
    assert check(quantizer)


@pytest.mark.parametrize("name, options, match", [
    ("vq", {}, r"quantizer='vq'"),
    ("fsq", {}, "levels=None"),
    ("lfq", {}, "num_bits=None"),
    ("fsq", {"levels": (8, 5), "num_bits": 4}, r"num_bits does not apply to quantizer='fsq'.*num_bits=4"),
    ("ema", {"depth": 2}, r"depth does not apply.*depth=2"),
    ("residual", {"levels": (3, 3)}, r"latent_dim=16.*levels=\[3, 3\]"),
    ("residual", {"depth": 0}, "depth=0"),
    ("fsq", {"levels": (8, 1)}, r"levels=\[8, 1\]"),
])
def test_bad_options_name_the_value(name, options, match):
    with pytest.raises(ValueError, match=match):
        make_quantizer(name, 16, **options)


def test_cli_refuses_a_bad_quantizer_option_before_loading_data(capsys, tmp_path):
    code, out, err = run(capsys, "train", "vqvae", "--data", str(tmp_path / "missing"), "--quantizer", "fsq",
                         "--levels", "8,1", "--out", tmp_path / "t.keras")
    assert code == 2 and "--levels must be ≥ 2" in err and "8,1" in err and "missing" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # the library path is covered by the tests above and tests/models/test_vqvae_quantizers.py
def test_cli_trains_an_fsq_tokenizer(capsys, tmp_path):
    tokenizer = tmp_path / "tok.keras"
    code, out, err = run(capsys, "train", "vqvae", "--data", "mnist5k", "--split", "train[:32]", "--epochs", "1",
                         *TINY, "--quantizer", "fsq", "--levels", "5,4,4", "--out", tokenizer)
    assert code == 0, err
    model = keras.models.load_model(tokenizer, safe_mode=True)
    assert isinstance(model.quantizer, FSQ) and model.quantizer.levels == (5, 4, 4)
