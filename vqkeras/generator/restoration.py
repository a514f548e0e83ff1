"""Re-sampling part of a real image's tokens with a generator's prior: inpainting, upscaling and look-alikes.

Each function takes an `ImageGenerator`, encodes the images, chooses the tokens to re-sample, lets the prior re-sample
them with the others known (`vqkeras.samplers.TokenConstraints`), and decodes. What a prior can see decides which
tokens must change and how they are scored; the priors answer that themselves (`BasePrior.positions_to_resample`,
`BasePrior.token_confidence`, `BasePrior.decoding_options`), so nothing here depends on the prior's kind.
`ImageGenerator.inpaint`, `.upscale` and `.generate_image` call these functions.

Every function decides per image cell (the `f×f` pixel patch one grid position is decoded to). With a residual
tokenizer (`index_shape = (depth,)`) a cell has `depth` tokens, its residual levels, adjacent in the prior's grid
`(h, w·depth)` (`ImageGenerator.to_prior_tokens`); a cell is kept or re-sampled whole, all its levels together
(`ImageGenerator.cell_positions`), since the levels only mean something as a sum.
"""

import numpy as np
import tensorflow as tf

from vqkeras import samplers
from vqkeras.utils.images import convert_images
from vqkeras.utils.validation import check_float
from vqkeras.utils.validation import check_int


def prepare_pixel_mask(generator, mask, num_images, input_size):
    """Float32 `(n, H, W, 1)` mask in [0, 1] at the generator's size from `(H, W)`, `(n, H, W)` or `(n, H, W, 1)`."""
    array = mask.numpy() if isinstance(mask, tf.Tensor) else np.asarray(mask)
    shape = array.shape
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or tuple(array.shape[1:]) != tuple(input_size) or array.shape[0] not in (1, num_images):
        raise ValueError(
            f"mask must have shape (H, W), (n, H, W) or (n, H, W, 1) with (H, W) = {tuple(input_size)} (the "
            f"images' size) and n = 1 or {num_images}. Received: mask.shape={shape}"
        )
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(
            f"mask values must be in [0, 1] (1 = fill in). Received: values in [{array.min()}, {array.max()}]"
        )
    array = np.broadcast_to(array, (num_images, *array.shape[1:]))[..., None]
    height, width, _ = generator.image_shape
    if tuple(input_size) != (height, width):
        array = np.clip(tf.image.resize(array, (height, width), "bilinear").numpy(), 0.0, 1.0)
    return np.ascontiguousarray(array, np.float32)


def masked_cells(generator, mask):
    """Boolean `(n, h, w)`: the image cells (the `f×f` pixel patch a grid position is decoded to) that overlap
    `mask > 0`. `(h, w)` is `ImageGenerator.cell_grid_shape`: for a residual tokenizer, a cell holds `depth` tokens.

    Args:
        generator: The `ImageGenerator`.
        mask: Float array `(n, H, W)` or `(n, H, W, 1)` at the generator's image size.
    """
    array = np.asarray(mask)
    if array.ndim == 4:
        array = array[..., 0]
    f = generator.tokenizer.downsample_factor
    h, w = generator.cell_grid_shape
    return (array.reshape(array.shape[0], h, f, w, f) > 0).any(axis=(2, 4))


def _resample(generator, tokens, resample, sampler, *, seed, labels, steps):
    """The prior's tokens with the positions `resample` re-sampled and the others kept (NumPy, in the prior's grid
    `(n, h, w·depth)`)."""
    prior = generator.prior
    constraints = samplers.TokenConstraints(known_tokens=tokens, known_mask=~resample)
    return prior.sample(tokens.shape[0], sampler, seed=seed, labels=labels, constraints=constraints,
                        **prior.decoding_options(steps)).numpy()


def inpaint(generator, images, mask, sampler=None, *, seed=None, steps=8, labels=None, return_tokens=False,
            **options):
    """Fills in the masked region of images with the prior and keeps every other pixel exactly.

    1. Encode the images to tokens `s`.
    2. Mark every cell (the `f×f` pixel patch a grid position is decoded to, `f` the downsampling factor) that
       overlaps the mask (`mask > 0`), and its tokens: all `depth` residual levels of a marked cell with a residual
       tokenizer.
    3. Re-sample with the prior the positions it needs to fill the marked tokens (`positions_to_resample`), keeping
       the others:
       - a bidirectional prior (`MaskGITPrior`) fills exactly the marked tokens, each seeing all kept tokens on every
         side;
       - an autoregressive prior (`TransformerPrior`, `PixelCNNPrior`) only sees earlier tokens, so every token from
         the first marked one in raster order onwards is re-sampled. Tokens after the hole that were not marked also
         change, and the fill does not see the context below the hole; use a MaskGIT prior for real inpainting.
         With a residual tokenizer the first re-sampled token is the first level of the first marked cell.
    4. Decode, and composite: `output = m·decoded + (1 − m)·input`, so pixels with `m = 0` are exactly the input (as
       returned by `prepare_images`).

    Args:
        generator: The `ImageGenerator`.
        images: One image `(H, W, C)` or a batch `(n, H, W, C)`; uint8 in [0, 255] or float in [-1, 1]. Resized to
            the generator's size if it differs.
        mask: Float or bool array `(H, W)` (one mask for all images), `(n, H, W)` or `(n, H, W, 1)` at the images'
            size; values in [0, 1], 1 = fill in. Soft values blend.
        sampler: Optional `vqkeras.samplers.Sampler` (or its fields `temperature`, `top_k`, `top_p` as keywords).
        seed: Optional integer; the same seed gives the same images.
        steps: Integer ≥ 1. Decoding steps of a MaskGIT prior (ignored by autoregressive priors).
        labels: Optional class labels `(n,)` for a class-conditioned prior.
        return_tokens: Boolean. Also return the input tokens, the re-sampled tokens and the marked cells.

    Returns:
        Images `(n, H, W, C)` in [-1, 1]; with `return_tokens`, `(images, tokens, new_tokens, cells)`: the tokens
        in the prior's grid `(n, h, w·depth)` (`depth = 1` but for a residual tokenizer) and `cells` the boolean
        `(n, h, w)` grid of marked cells.
    """
    sampler = samplers.build_sampler(sampler, **options)
    generator._check_prior_trained()
    raw = images.numpy() if isinstance(images, tf.Tensor) else np.asarray(images)
    input_size = raw.shape[-3:-1] if raw.ndim in (3, 4) else None
    images = generator.prepare_images(raw)
    pixel_mask = prepare_pixel_mask(generator, mask, int(images.shape[0]), input_size)
    generator.prior.decoding_options(steps)  # checks steps before any work
    tokens = generator.to_prior_tokens(generator.tokenizer.encode(images)).numpy()
    cells = masked_cells(generator, pixel_mask)
    resample = generator.prior.positions_to_resample(generator.cell_positions(cells))
    new_tokens = _resample(generator, tokens, resample, sampler, seed=seed, labels=labels, steps=steps)
    decoded = generator.decode(new_tokens).numpy()
    # Composite: outside the mask (m = 0) the input pixels are kept exactly.
    output = tf.convert_to_tensor(pixel_mask * decoded + (1.0 - pixel_mask) * images.numpy(), tf.float32)
    return (output, tokens, new_tokens, cells) if return_tokens else output


def _check_factor(generator, factor):
    """`factor` as an integer ≥ 1 that divides the generator's image height and width."""
    height, width, _ = generator.image_shape
    factor = check_int("factor", factor, minimum=1)
    if height % factor or width % factor:
        raise ValueError(f"factor must be a positive integer dividing the generator's image size {height}×{width}. "
                         f"Received: factor={factor}")
    return factor


def least_likely_cells(confidence, depth, count):
    """Boolean `(n, h, w)`: the `count` cells of each grid with the lowest `Σ_levels log p`, from the prior's
    per-token `confidence` `(n, h, w·depth)` (`depth` adjacent levels per cell); ties go to the earlier cell.

    The logarithm is taken in float64, where it is strictly increasing on float32 probabilities, so for `depth = 1`
    the ranking is that of the probabilities themselves.
    """
    confidence = np.asarray(confidence)
    n, h, width = confidence.shape
    with np.errstate(divide="ignore"):  # p = 0 scores −inf: least likely
        scores = np.log(confidence.astype(np.float64)).reshape(n, h * (width // depth), depth).sum(axis=-1)
    ranks = np.argsort(np.argsort(scores, axis=1, kind="stable"), axis=1, kind="stable")
    return (ranks < count).reshape(n, h, width // depth)


def _low_resolution_images(generator, images, factor):
    """The images `(n, H/factor, W/factor, C)` as an array, after checking `factor` and their shape."""
    height, width, channels = generator.image_shape
    array = images.numpy() if isinstance(images, tf.Tensor) else np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    expected = (height // factor, width // factor, channels)
    if array.ndim != 4 or tuple(array.shape[1:]) != expected:
        raise ValueError(
            f"images must have shape {expected} or (n, {', '.join(map(str, expected))}) for factor={factor} "
            f"(the generator makes {height}×{width} images). Received: images.shape={array.shape}"
        )
    return array


def upscale(generator, images, factor, strength=0.3, sampler=None, *, seed=None, steps=8, labels=None,
            group_size=1, return_tokens=False, **options):
    """Super-resolution by `factor`: bilinear upsampling, then the prior re-samples the tokens it doubts.

    For a generator trained at size `H×W`, the input is at `(H/factor)×(W/factor)`.

    1. Upsample to `H×W` (bilinear, `vqkeras.utils.images.resize_images`) and encode to tokens `s`.
    2. Score each token by the prior's probability of it given its context (`token_confidence`): `p(s_i | s_{−i})`
       with a bidirectional prior (`MaskGITPrior`), or `p(s_i | s_<i)` with an autoregressive prior (which only sees
       earlier tokens, so its scores are weaker and its re-samples do not see later kept tokens).
       A cell's score is the sum of its tokens' log-probabilities, `Σ_l log p(s_{i,l} | ·)` over its `depth`
       residual levels (just `log p(s_i | ·)` for one index per cell). For an autoregressive prior this is exactly
       the log-probability of the whole cell given the earlier tokens, `log p(s_{i,1..depth} | s_<i)`; for MaskGIT it
       is the pseudo-log-likelihood of the cell (each level scored with the cell's other levels known), cheaper
       than masking the cells whole, and it ranks a cell low when any of its levels is unlikely.
    3. Re-sample the `round(strength·h·w)` least likely cells (all levels of each) with the prior, all other tokens
       known, and decode.

    Limits: the method can only add detail that the tokenizer's codebook and the prior know from training (it sharpens
    towards the training distribution, and can hallucinate plausible but wrong detail); it cannot recover
    information lost at low resolution, and at high `strength` it drifts away from the input. `strength=0` returns
    the reconstruction of the bilinear upsample.

    Args:
        generator: The `ImageGenerator`.
        images: One image `(H/factor, W/factor, C)` or a batch; uint8 in [0, 255] or float in [-1, 1].
        factor: Integer ≥ 1 dividing the generator's height and width.
        strength: Float in [0, 1]. Fraction of the `h·w` image cells that may change. Defaults to `0.3`.
        sampler: Optional `vqkeras.samplers.Sampler` (or its fields `temperature`, `top_k`, `top_p` as keywords).
        seed: Optional integer; the same seed gives the same images.
        steps: Integer ≥ 1. Decoding steps of a MaskGIT prior (ignored by autoregressive priors).
        labels: Optional class labels `(n,)` for a class-conditioned prior.
        group_size: Integer ≥ 1. Positions masked per forward pass when scoring with a MaskGIT prior (`1` = exact
            `p(s_i | s_{−i})`, see `MaskGITPrior.token_probabilities`).
        return_tokens: Boolean. Also return the tokens of the bilinear upsample and the final tokens (in the
            prior's grid `(n, h, w·depth)`).

    Returns:
        Images `(n, H, W, C)` in [-1, 1]; with `return_tokens`, `(images, tokens, new_tokens)`.
    """
    sampler = samplers.build_sampler(sampler, **options)
    factor = _check_factor(generator, factor)
    strength = check_float("strength", strength, minimum=0, maximum=1)
    generator.prior.decoding_options(steps)  # checks steps before any work
    array = _low_resolution_images(generator, images, factor)
    generator._check_prior_trained()
    size = generator.image_shape[:2]
    upsampled = tf.clip_by_value(convert_images(array, size, argument="images", integer_pixels=True), -1.0, 1.0)
    tokens = generator.to_prior_tokens(generator.tokenizer.encode(upsampled)).numpy()
    count = int(round(strength * np.prod(generator.cell_grid_shape)))
    new_tokens = tokens
    if count > 0:
        confidence = generator.prior.token_confidence(tokens, labels=labels, group_size=group_size)
        resample = generator.cell_positions(least_likely_cells(confidence, generator.depth, count))
        new_tokens = _resample(generator, tokens, resample, sampler, seed=seed, labels=labels, steps=steps)
    output = generator.decode(new_tokens)
    return (output, tokens, new_tokens) if return_tokens else output


def generate_image(generator, style_image, strength=0.5, num_images=1, sampler=None, *, seed=None,
                   histogram_weight=1.0, return_tokens=False, **options):
    """New images that share the look of `style_image` without copying it.

    The style image is encoded to tokens `s` (resized first if its size differs; its channels must match). Each
    image cell keeps its style tokens with probability `1 − strength`; the others are re-sampled by the prior in raster
    order, conditioned on every earlier token (kept or new), with the logits biased towards the style image's code
    histogram: `logits + histogram_weight · log((count_k + 1) / (n + K))`, `n` the number of style tokens. So
    `strength=0` reproduces the style image's reconstruction, and `strength=1` samples a fresh image whose codes follow
    the style image's code statistics (its textures, strokes and tones).

    With a residual tokenizer a cell is kept or re-sampled whole, all `depth` levels together (a kept coarse level
    under new finer levels would be neither the style's cell nor a sampled one). The histogram counts the codes of
    every level together, `n = h·w·depth`: the samplers add one bias vector per grid, not per position. With a
    shared codebook (`ResidualQuantizer(shared_codebook=True)`) that is exactly the style image's code statistics.
    With one codebook per level, code `k` means a different vector at each level, so the pull at one level also
    carries the other levels' counts; the prior's logits, which know each position's level, still decide where they
    are confident, and a smaller `histogram_weight` weakens the mixed pull.

    Limits: "style" here is what the codes capture (local texture, tone, stroke width), not semantics; an
    autoregressive prior does not see kept tokens that come later in raster order, so seams between kept and
    re-sampled regions can show at high strength; the result is only as good as the prior.

    Args:
        generator: The `ImageGenerator`.
        style_image: One image `(H, W, C)` or `(1, H, W, C)`; uint8 in [0, 255] or float in [-1, 1].
        strength: Float in [0, 1]. Fraction of the image cells that may change.
        num_images: Integer. Look-alikes to generate.
        sampler: Optional `vqkeras.samplers.Sampler` (or its fields `temperature`, `top_k`, `top_p` as keywords).
        seed: Optional integer; the same seed gives the same images.
        histogram_weight: Float ≥ 0. Strength of the pull towards the style image's codes.
        return_tokens: Boolean. Also return the style tokens and the generated tokens.

    Returns:
        Images `(num_images, H, W, C)` in [-1, 1]; with `return_tokens`, `(images, style_tokens, tokens)`, the tokens
        in the prior's grid (`(h, w·depth)` and `(num_images, h, w·depth)`).
    """
    sampler = samplers.build_sampler(sampler, **options)
    strength = check_float("strength", strength, minimum=0, maximum=1)
    histogram_weight = check_float("histogram_weight", histogram_weight, minimum=0)
    num_images = check_int("num_images", num_images, minimum=1)
    seed = check_int("seed", seed, minimum=0, allow_none=True)
    generator._check_prior_trained()
    style = generator.prepare_images(style_image, argument="style_image")
    if style.shape[0] != 1:
        raise ValueError(f"style_image must be a single image. Received: {style.shape[0]} images")
    style_tokens = generator.to_prior_tokens(generator.tokenizer.encode(style)).numpy()[0]
    rng = np.random.default_rng(seed)
    keep = generator.cell_positions(rng.random((num_images, *generator.cell_grid_shape)) >= strength)
    counts = np.bincount(style_tokens.ravel(), minlength=generator.num_embeddings)
    bias = histogram_weight * np.log((counts + 1.0) / (style_tokens.size + generator.num_embeddings))
    constraints = samplers.TokenConstraints(known_tokens=np.broadcast_to(style_tokens, keep.shape), known_mask=keep,
                                            logit_bias=bias.astype(np.float32))
    tokens = generator.prior.sample(num_images, sampler, seed=None if seed is None else int(rng.integers(2**31)),
                                    constraints=constraints)
    images = generator.decode(tokens)
    return (images, style_tokens, tokens.numpy()) if return_tokens else images
