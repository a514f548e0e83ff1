"""ImageGenerator.inpaint / upscale / generate_image with MaskGIT and autoregressive priors, with one index per cell
and with a residual tokenizer (depth levels per cell), and the mask helpers."""

import numpy as np
import pytest

from tests.tiny_models import GRID
from tests.tiny_models import TOKENIZER_ARGS
from tests.tiny_models import TRANSFORMER_ARGS
from tests.tiny_models import images
from tests.tiny_models import tiny_prior
from tests.tiny_models import tiny_vqvae
from vqkeras.generator.restoration import least_likely_cells
from vqkeras.models import ImageGenerator
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import TransformerPrior
from vqkeras.quantizers import ResidualQuantizer
from vqkeras.quantizers import VectorQuantizerEMA
from vqkeras.utils.masks import box_mask
from vqkeras.utils.masks import centre_box_mask
from vqkeras.utils.masks import mask_from_image
from vqkeras.utils.masks import parse_box


DEPTH = 3
PRIORS = pytest.mark.parametrize("prior_cls", [MaskGITPrior, TransformerPrior], ids=["maskgit", "transformer"])


def tiny_generator(prior_cls=MaskGITPrior):
    return ImageGenerator(tiny_vqvae(), tiny_prior(prior_cls, dropout=0.0), prior_trained=True)


def residual_generator(prior_cls):
    """A tiny tokenizer with a depth-3 residual quantizer; the prior models its `(4, 4·3)` grid."""
    quantizer = ResidualQuantizer(VectorQuantizerEMA(16, TOKENIZER_ARGS["latent_dim"]), depth=DEPTH, name="quantizer")
    prior = prior_cls(16, (GRID[0], GRID[1] * DEPTH), **TRANSFORMER_ARGS, dropout=0.0)
    return ImageGenerator(tiny_vqvae(quantizer=quantizer), prior, prior_trained=True)


def record_constraints(monkeypatch, prior):
    """The `TokenConstraints` of every `prior.sample` call, in a list that fills as the prior samples."""
    calls = []
    sample = prior.sample

    def recording_sample(*args, constraints=None, **kwargs):
        calls.append(constraints)
        return sample(*args, constraints=constraints, **kwargs)

    monkeypatch.setattr(prior, "sample", recording_sample)
    return calls


def per_cell(grid):
    """`(n, h, w·DEPTH)` in the prior's layout as `(n, h, w, DEPTH)`."""
    grid = np.asarray(grid)
    return grid.reshape(*grid.shape[:-1], grid.shape[-1] // DEPTH, DEPTH)


# ---------------------------------------------------------------------------------------------------------- masks
def test_mask_helpers():
    mask = box_mask(6, 8, x=2, y=1, w=3, h=2)
    expected = np.zeros((6, 8), np.float32)
    expected[1:3, 2:5] = 1
    np.testing.assert_array_equal(mask, expected)
    assert parse_box("2,1,3,2") == (2, 1, 3, 2)
    centre = centre_box_mask(64, 64)
    assert centre.sum() == 32 * 32 and centre[16:48, 16:48].all()
    np.testing.assert_array_equal(mask_from_image((expected * 255).astype(np.uint8)[..., None].repeat(3, -1)), expected)
    with pytest.raises(ValueError, match=r"x=6, y=1, w=3, h=2"):
        box_mask(6, 8, x=6, y=1, w=3, h=2)
    with pytest.raises(ValueError, match=r"box='1,2,3'"):
        parse_box("1,2,3")


# ----------------------------------------------------------------------------------------------------- generation
def test_generate_works_through_a_maskgit_prior():
    generator = tiny_generator()
    first = generator.generate(3, seed=5, top_k=8).numpy()
    assert first.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(first, generator.generate(3, seed=5, top_k=8).numpy())


# ----------------------------------------------------------------------------------------------------- inpainting
@pytest.mark.parametrize("prior_cls", [MaskGITPrior, TransformerPrior], ids=["maskgit", "transformer"])
def test_inpaint_keeps_everything_outside_the_mask(prior_cls):
    generator = tiny_generator(prior_cls)
    x = images(4)
    mask = np.zeros((8, 8), np.float32)
    mask[3:5, 2:5] = 1.0  # pixel rows 3-4, cols 2-4 → token rows 1-2, cols 1-2 (f = 2)
    out, tokens, new_tokens, cells = generator.inpaint(x, mask, seed=0, return_tokens=True)
    out = out.numpy()
    expected_cells = np.zeros((4, 4), bool)
    expected_cells[1:3, 1:3] = True
    np.testing.assert_array_equal(cells, np.broadcast_to(expected_cells, (4, 4, 4)))
    # Pixels outside the mask are the input, exactly; inside they are the decoded new tokens.
    outside = np.broadcast_to(mask[None, ..., None] == 0, x.shape)
    np.testing.assert_array_equal(out[outside], x[outside])
    decoded = generator.decode(new_tokens).numpy()
    np.testing.assert_allclose(out[~outside], decoded[~outside], atol=1e-6)
    if prior_cls is MaskGITPrior:
        kept = ~cells  # only the marked cells are re-sampled
    else:
        kept = np.zeros((4, 4, 4), bool)
        kept[:, 0] = True
        kept[:, 1, 0] = True  # tokens before the first marked one (raster position 5)
    np.testing.assert_array_equal(new_tokens[kept], tokens[kept])
    assert (new_tokens[~kept] != tokens[~kept]).any()  # the prior did re-sample the rest
    # Same seed, same result.
    np.testing.assert_array_equal(out, generator.inpaint(x, mask, seed=0).numpy())


def test_inpaint_mask_forms_and_errors():
    generator = tiny_generator()
    x = images(2)
    mask = box_mask(8, 8, 0, 0, 3, 3)
    reference = generator.inpaint(x, mask, seed=1).numpy()
    for form in (mask.astype(bool), np.stack([mask, mask]), np.stack([mask, mask])[..., None]):
        np.testing.assert_array_equal(generator.inpaint(x, form, seed=1).numpy(), reference)
    empty = generator.inpaint(x, np.zeros((8, 8)), seed=1).numpy()
    np.testing.assert_array_equal(empty, x)
    with pytest.raises(ValueError, match=r"mask.shape=\(7, 7\)"):
        generator.inpaint(x, np.zeros((7, 7)))
    with pytest.raises(ValueError, match=r"mask.shape=\(3, 8, 8\)"):
        generator.inpaint(x, np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match=r"mask values must be in \[0, 1\]"):
        generator.inpaint(x, mask * 2)
    with pytest.raises(ValueError, match="steps=0"):
        generator.inpaint(x, mask, steps=0)


# ------------------------------------------------------------------------------------------------ super-resolution
def test_upscale_changes_only_the_least_likely_tokens():
    generator = tiny_generator()
    low = images(3, size=4, seed=2)
    out, tokens, new_tokens = generator.upscale(low, factor=2, strength=0.0, seed=0, return_tokens=True)
    assert out.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(new_tokens, tokens)  # strength 0 changes no token
    np.testing.assert_allclose(out.numpy(), generator.decode(tokens).numpy(), atol=1e-6)

    out, tokens, new_tokens = generator.upscale(low, factor=2, strength=0.25, seed=0, return_tokens=True)
    confidence = generator.prior.token_probabilities(tokens).reshape(3, -1)
    changed = (new_tokens != tokens).reshape(3, -1)
    assert changed.any()
    for row in range(3):
        allowed = np.argsort(confidence[row], kind="stable")[:4]  # round(0.25 · 16) least likely tokens
        assert set(np.flatnonzero(changed[row])) <= set(allowed)


def test_upscale_with_an_autoregressive_prior_and_errors():
    generator = tiny_generator(TransformerPrior)
    low = (images(2, size=2, seed=3) * 127.5 + 127.5).astype(np.uint8)  # uint8 input, factor 4
    out, tokens, new_tokens = generator.upscale(low, factor=4, strength=0.5, seed=0, return_tokens=True)
    assert out.shape == (2, 8, 8, 1)
    assert (new_tokens != tokens).sum() <= 2 * 8
    with pytest.raises(ValueError, match="factor=3"):
        generator.upscale(images(1, size=4), factor=3)
    with pytest.raises(ValueError, match="strength=1.5"):
        generator.upscale(images(1, size=4), factor=2, strength=1.5)
    with pytest.raises(ValueError, match=r"images.shape=\(1, 8, 8, 1\)"):
        generator.upscale(images(1, size=8), factor=2)


def test_least_likely_cells_rank_the_sum_of_the_levels_log_probabilities():
    # Cell 0 has levels (0.5, 0.5): product 0.25; cell 1 (0.9, 0.3): product 0.27 but the least likely single level;
    # cell 2 (0.2, 1.0): product 0.2; cell 3 (1.0, 1.0).
    confidence = np.array([[[0.5, 0.5, 0.9, 0.3], [0.2, 1.0, 1.0, 1.0]]], np.float32)  # (1, h=2, w·depth=4)
    np.testing.assert_array_equal(least_likely_cells(confidence, 2, 1), [[[False, False], [True, False]]])
    np.testing.assert_array_equal(least_likely_cells(confidence, 2, 2), [[[True, False], [True, False]]])
    assert least_likely_cells(confidence, 2, 0).sum() == 0 and least_likely_cells(confidence, 2, 4).all()
    # Depth 1: the ranking of the probabilities, ties (and p = 0) to the earlier position.
    flat = np.array([[[0.3, 0.0, 0.7, 0.0, 0.3, 1e-30]]], np.float32)
    np.testing.assert_array_equal(least_likely_cells(flat, 1, 3)[0, 0], [False, True, False, True, False, True])
    np.testing.assert_array_equal(least_likely_cells(flat, 1, 4)[0, 0], [True, True, False, True, False, True])


# ------------------------------------------------------------------------------------- residual tokenizers (depth 3)
@PRIORS
def test_residual_inpaint_keeps_pixels_and_resamples_whole_marked_cells(prior_cls, monkeypatch):
    generator = residual_generator(prior_cls)
    calls = record_constraints(monkeypatch, generator.prior)
    x = images(4)
    mask = np.zeros((8, 8), np.float32)
    mask[3:5, 2:5] = 1.0  # token rows 1-2, cols 1-2 (f = 2)
    out, tokens, new_tokens, cells = generator.inpaint(x, mask, seed=0, return_tokens=True)
    out = out.numpy()
    assert tokens.shape == new_tokens.shape == (4, 4, 4 * DEPTH)
    np.testing.assert_array_equal(tokens, generator.encode(x).numpy())
    expected_cells = np.zeros((4, 4), bool)
    expected_cells[1:3, 1:3] = True
    np.testing.assert_array_equal(cells, np.broadcast_to(expected_cells, (4, 4, 4)))
    outside = np.broadcast_to(mask[None, ..., None] == 0, x.shape)
    np.testing.assert_array_equal(out[outside], x[outside])  # the kept pixels, exactly
    np.testing.assert_allclose(out[~outside], generator.decode(new_tokens).numpy()[~outside], atol=1e-6)
    resampled = ~calls[-1].known_mask
    if prior_cls is MaskGITPrior:
        expected = np.repeat(cells, DEPTH, axis=2)  # exactly the marked cells, every level of them
    else:
        expected = np.ones((4, 4, 4 * DEPTH), bool)
        expected[:, 0] = False
        expected[:, 1, :DEPTH] = False  # from the first level of the first marked cell (row 1, cell 1) onwards
    np.testing.assert_array_equal(resampled, expected)
    np.testing.assert_array_equal(new_tokens[~resampled], tokens[~resampled])
    changed = per_cell(new_tokens != tokens)
    assert changed[..., 1:].any()  # the finer levels of marked cells were re-sampled too
    if prior_cls is MaskGITPrior:
        assert not changed[~cells].any()  # no other cell's tokens
    np.testing.assert_array_equal(out, generator.inpaint(x, mask, seed=0).numpy())


@PRIORS
def test_residual_upscale_resamples_the_least_likely_whole_cells(prior_cls, monkeypatch):
    generator = residual_generator(prior_cls)
    strength = 0.3  # 5 of the 16 cells, not round(0.3 · 48) = 14 tokens
    calls = record_constraints(monkeypatch, generator.prior)
    low = images(3, size=4, seed=2)
    out, tokens, new_tokens = generator.upscale(low, factor=2, strength=strength, seed=0, return_tokens=True)
    assert out.shape == (3, 8, 8, 1) and tokens.shape == (3, 4, 4 * DEPTH)
    resampled = per_cell(~calls[-1].known_mask)
    cells = resampled[..., 0]
    assert (resampled == cells[..., None]).all()  # all levels of a cell together
    np.testing.assert_array_equal(cells.sum(axis=(1, 2)), round(strength * 16))  # a fraction of the 16 cells
    # The chosen cells have the lowest Σ_levels log p of the prior's per-token confidence.
    scores = np.log(per_cell(generator.prior.token_confidence(tokens)).astype(np.float64)).sum(axis=-1)
    for row in range(3):
        assert scores[row][cells[row]].max() <= scores[row][~cells[row]].min()
    changed = per_cell(new_tokens != tokens)
    assert changed.any() and not changed[~cells].any()
    np.testing.assert_allclose(out.numpy(), generator.decode(new_tokens).numpy(), atol=1e-6)


@PRIORS
def test_residual_generate_image_keeps_whole_cells_and_strength_0_reconstructs(prior_cls, monkeypatch):
    generator = residual_generator(prior_cls)
    calls = record_constraints(monkeypatch, generator.prior)
    style = images(1, seed=4)
    out, style_tokens, tokens = generator.generate_image(style, strength=0.0, num_images=2, seed=1,
                                                         return_tokens=True)
    np.testing.assert_array_equal(style_tokens, generator.encode(style).numpy()[0])
    np.testing.assert_array_equal(tokens, np.broadcast_to(style_tokens, (2, 4, 4 * DEPTH)))
    reconstruction = np.clip(generator.tokenizer(style).numpy(), -1, 1)
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(reconstruction, out.shape), atol=1e-5)

    out, style_tokens, tokens = generator.generate_image(style, strength=0.5, num_images=4, seed=3,
                                                         return_tokens=True)
    constraints = calls[-1]
    keep = np.random.default_rng(3).random((4, 4, 4)) >= 0.5  # the cells' draws, one per cell
    np.testing.assert_array_equal(constraints.known_mask, np.repeat(keep, DEPTH, axis=2))
    counts = np.bincount(style_tokens.ravel(), minlength=16)  # the codes of every level
    np.testing.assert_allclose(constraints.logit_bias, np.log((counts + 1.0) / (16 * DEPTH + 16)), rtol=1e-6)
    np.testing.assert_array_equal(per_cell(tokens)[keep], per_cell(np.broadcast_to(style_tokens, tokens.shape))[keep])
    assert (tokens != style_tokens).any() and out.shape == (4, 8, 8, 1)
