"""Reconstruction quality and codebook statistics of a VQ model over a whole dataset."""

import numpy as np
import tensorflow as tf

from vqkeras.metrics._batching import iterate_batches
from vqkeras.utils.images import from_model_range


def _num_embeddings(model):
    for owner in (model, getattr(model, "quantizer", None)):
        k = getattr(owner, "num_embeddings", None)
        if k is not None:
            return int(k)
    raise ValueError(f"Cannot find the codebook size: model has no num_embeddings. Received: {type(model).__name__}")


def _make_step(model, want_images, want_codes):
    """A `tf.function` returning per-image PSNR and SSIM on [0, 1] images, and the code indices."""

    @tf.function(reduce_retracing=True)
    def step(images):
        out = {}
        if hasattr(model, "forward"):
            result = model.forward(images, training=False)
            reconstructions, indices = result["reconstructions"], result["indices"]
        else:
            reconstructions = model(images, training=False) if want_images else None
            indices = model.encode(images) if want_codes else None
        if want_images:
            x = from_model_range(images)
            y = from_model_range(reconstructions)
            out["psnr"] = tf.image.psnr(x, y, max_val=1.0)
            out["ssim"] = tf.image.ssim(x, y, max_val=1.0)
        if want_codes:
            out["indices"] = tf.reshape(tf.cast(indices, tf.int32), [-1])
        return out

    return step


def reconstruction_pass(model, dataset, images=True, codes=True, batch_size=64, verbose=1):
    """One pass of `model` over `dataset`: mean PSNR/SSIM and the code histogram.

    Args:
        model: A `VQVAE`/`VQGAN` (anything with `forward(images)` returning `reconstructions` and `indices`), or a
            model whose call returns reconstructions and whose `encode(images)` returns code indices.
        dataset: `tf.data.Dataset` of float images in [-1, 1] (or `(images, ...)` tuples), or an image array.
        images: Boolean. Compute PSNR and SSIM.
        codes: Boolean. Compute the code histogram.
        batch_size: Integer. Batch size for arrays.
        verbose: 0 or 1 (progress bar).

    Returns:
        Dict with `psnr`, `ssim` (float means over images) and/or `counts` (int64 `(K,)` histogram).
    """
    step = _make_step(model, images, codes)
    num_embeddings = _num_embeddings(model) if codes else None
    psnr_sum = ssim_sum = 0.0
    count = 0
    counts = np.zeros(num_embeddings or 0, np.int64)
    for batch in iterate_batches(dataset, batch_size, verbose, label=f"Evaluating {getattr(model, 'name', 'model')}"):
        out = step(batch)
        if images:
            psnr_sum += float(tf.reduce_sum(out["psnr"]))
            ssim_sum += float(tf.reduce_sum(out["ssim"]))
            count += int(batch.shape[0])
        if codes:
            counts += np.bincount(out["indices"].numpy(), minlength=num_embeddings)[:num_embeddings]
    result = {}
    if images:
        result["psnr"] = psnr_sum / count
        result["ssim"] = ssim_sum / count
    if codes:
        result["counts"] = counts
    return result


def psnr(model, dataset, batch_size=64, verbose=1):
    """Mean PSNR (dB) of the model's reconstructions over a dataset.

    `PSNR = 10·log10(1 / MSE)` per image, on images mapped from [-1, 1] to [0, 1] (reconstructions clipped), with
    `tf.image.psnr(max_val=1.0)`, averaged over all images.

    Args:
        model, dataset, batch_size, verbose: As `reconstruction_pass` (a VQ model; images in [-1, 1]).

    Returns:
        Float, in dB.
    """
    return reconstruction_pass(model, dataset, codes=False, batch_size=batch_size, verbose=verbose)["psnr"]


def ssim(model, dataset, batch_size=64, verbose=1):
    """Mean SSIM of the model's reconstructions over a dataset.

    `tf.image.ssim(max_val=1.0)` (11×11 Gaussian window, σ = 1.5) per image on [0, 1] images, averaged over all
    images. Images must be at least 11×11.

    Args:
        model, dataset, batch_size, verbose: As `reconstruction_pass` (a VQ model; images in [-1, 1]).

    Returns:
        Float in [-1, 1], 1 for perfect reconstructions.
    """
    return reconstruction_pass(model, dataset, codes=False, batch_size=batch_size, verbose=verbose)["ssim"]


def histogram_stats(counts):
    """`usage` and `perplexity` of a code histogram.

    `usage = #{k : n_k > 0} / K`; `perplexity = exp(H)`, `H = −Σ p_k log p_k`, `p = n / Σn` (`0·log 0 = 0`).

    Args:
        counts: Array `(K,)` of code counts.

    Returns:
        Dict with `usage`, `perplexity` (floats) and `used_codes` (integer).
    """
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("The code histogram is empty. Received: counts that sum to 0")
    p = counts[counts > 0] / total
    return {
        "usage": float((counts > 0).mean()),
        "perplexity": float(np.exp(-np.sum(p * np.log(p)))),
        "used_codes": int((counts > 0).sum()),
    }


def codebook_stats(model, dataset, batch_size=64, verbose=1):
    """Codebook usage and perplexity over a whole dataset (not averaged per batch).

    Every image is encoded; `n_k` counts the positions assigned to code `k` over the dataset. Then
    `usage = #{k : n_k > 0} / K` and `perplexity = exp(−Σ p_k log p_k)`, `p = n / Σn`: `K` when all codes are
    used equally, 1 when one code takes everything.

    Args:
        model, dataset, batch_size, verbose: As `reconstruction_pass` (a VQ model; images in [-1, 1]).

    Returns:
        Dict with `usage`, `perplexity`, `used_codes` and `counts` (int64 `(K,)` histogram).
    """
    counts = reconstruction_pass(model, dataset, images=False, batch_size=batch_size, verbose=verbose)["counts"]
    return {**histogram_stats(counts), "counts": counts}
