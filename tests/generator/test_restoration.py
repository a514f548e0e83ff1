"""ImageGenerator.inpaint / upscale with MaskGIT and autoregressive priors, and the mask helpers."""

import numpy as np
import pytest

from tests.tiny_models import images
from tests.tiny_models import tiny_prior
from tests.tiny_models import tiny_vqvae
from vqkeras.models import ImageGenerator
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import TransformerPrior
from vqkeras.utils.masks import box_mask
from vqkeras.utils.masks import centre_box_mask
from vqkeras.utils.masks import mask_from_image
from vqkeras.utils.masks import parse_box


def tiny_generator(prior_cls=MaskGITPrior):
    return ImageGenerator(tiny_vqvae(), tiny_prior(prior_cls, dropout=0.0), prior_trained=True)


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
