"""All reconstruction metrics of a VQ model in one pass."""

from vqkeras.metrics.reconstruction import histogram_stats
from vqkeras.metrics.reconstruction import reconstruction_pass


def evaluate_model(model, dataset, batch_size=64, verbose=1):
    """PSNR, SSIM, codebook usage and perplexity of a VQ model over a dataset, in one pass.

    Args:
        model: A `VQVAE` or `VQGAN` (anything with `forward(images)` → `reconstructions`, `indices`; or a call
            that returns reconstructions and an `encode`).
        dataset: `tf.data.Dataset` of float images in [-1, 1] (or `(images, ...)` tuples), e.g. from
            `vqkeras.data.load_images(..., shuffle=False)`, or an image array.
        batch_size: Integer. Batch size for arrays.
        verbose: 0 or 1 (progress bar).

    Returns:
        Dict of floats: `psnr` (dB), `ssim`, `usage` (fraction of codes used at least once), `perplexity`
        (`exp` of the entropy of the dataset's code histogram), and `used_codes`, `num_embeddings` (integers).

    Example:

    >>> dataset = vqkeras.data.load_images("fashion_mnist", 28, split="test", shuffle=False, batch_size=256)
    >>> vqkeras.metrics.evaluate_model(model, dataset)
    {'psnr': 24.1, 'ssim': 0.87, 'usage': 1.0, 'perplexity': 55.2, 'used_codes': 64, 'num_embeddings': 64}
    """
    out = reconstruction_pass(model, dataset, batch_size=batch_size, verbose=verbose)
    stats = histogram_stats(out["counts"])
    return {
        "psnr": out["psnr"],
        "ssim": out["ssim"],
        "usage": stats["usage"],
        "perplexity": stats["perplexity"],
        "used_codes": stats["used_codes"],
        "num_embeddings": int(out["counts"].shape[0]),
    }
