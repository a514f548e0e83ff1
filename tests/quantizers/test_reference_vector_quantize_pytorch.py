"""vqkeras' quantizers against vector-quantize-pytorch (the `test` extra pins it, torch and einops).

Same float32 inputs and weights on both sides; each test checks identical indices, quantized outputs within 1e-5,
auxiliary losses within 1e-5 and gradients to the input within 1e-5. Where the definitions differ on purpose
(see each test), the test states it and compares the shared part.

The library never imports torch; only these tests do.
"""

import numpy as np
import pytest
import tensorflow as tf
import torch
import vector_quantize_pytorch as vqp

from vqkeras.quantizers import FSQ
from vqkeras.quantizers import LFQ
from vqkeras.quantizers import ResidualQuantizer
from vqkeras.quantizers import VectorQuantizerEMA

ATOL = 1e-5
RTOL = 1e-5


def close(ours, theirs, what):
    ours = ours.numpy() if hasattr(ours, "numpy") else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=what)


def copy_linear(dense, linear):
    """Sets a Keras Dense to a torch Linear's weights (kernel = weightᵀ)."""
    dense.set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])


def run_both(ours_fn, theirs_fn, x, w):
    """Forward both with a `Σ out·w + aux` objective; returns (ours dict, theirs tuple, our grad, their grad)."""
    xt = torch.tensor(x, requires_grad=True)
    theirs = theirs_fn(xt)
    (theirs[0] * torch.tensor(w)).sum().add(theirs[2] if len(theirs) > 2 else 0.0).backward()
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        ours = ours_fn(xv)
        objective = tf.reduce_sum(ours["quantized"] * w) + ours["loss"]
    return ours, theirs, tape.gradient(objective, xv), xt.grad


@pytest.mark.parametrize("levels, symmetric, dim", [
    ([8, 5, 5, 5], False, None),
    ([8, 8, 8, 5, 5, 5], False, None),
    ([7, 6, 5, 4], False, 12),
    ([2, 3, 4, 5], True, None),
])
def test_fsq(levels, symmetric, dim):
    rng = np.random.default_rng(0)
    width = dim or len(levels)
    x = (rng.normal(size=(4, 50, width)) * 1.5).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    theirs_layer = vqp.FSQ(levels=levels, dim=dim, preserve_symmetry=symmetric)
    ours_layer = FSQ(levels, embedding_dim=width, preserve_symmetry=symmetric)
    ours_layer.build(x.shape)
    if dim:
        copy_linear(ours_layer.project_in, theirs_layer.project_in)
        copy_linear(ours_layer.project_out, theirs_layer.project_out)
    ours, theirs, grad, their_grad = run_both(
        lambda v: ours_layer.quantize_with_stats(v, training=True), theirs_layer, x, w)
    np.testing.assert_array_equal(ours["indices"].numpy(), theirs[1].numpy())
    close(ours["quantized"], theirs[0], "quantized")
    close(grad, their_grad, "input gradient")
    close(ours_layer.indices_to_codes(ours["indices"]), theirs_layer.indices_to_codes(theirs[1]), "indices_to_codes")
    assert ours_layer.codebook_size == theirs_layer.codebook_size


@pytest.mark.parametrize("bits, dim, spherical", [(10, None, False), (10, None, True), (8, 16, False), (6, 12, True)])
def test_lfq(bits, dim, spherical):
    """Their losses exist only in training; ours are computed in evaluation too (so validation losses mean
    something). Compared here in training."""
    rng = np.random.default_rng(1)
    width = dim or bits
    x = (rng.normal(size=(4, 64, width)) * 0.05).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    kwargs = dict(entropy_loss_weight=0.3, commitment_loss_weight=0.7, diversity_gamma=1.3)
    theirs_layer = vqp.LFQ(dim=width, codebook_size=2**bits, spherical=spherical, codebook_scale=1.2, **kwargs)
    theirs_layer.train()
    ours_layer = LFQ(bits, embedding_dim=width, entropy_weight=0.3, commitment_weight=0.7, diversity_gamma=1.3,
                     inverse_temperature=30.0, spherical=spherical, codebook_scale=1.2)
    ours_layer.build(x.shape)
    if dim:
        copy_linear(ours_layer.project_in, theirs_layer.project_in)
        copy_linear(ours_layer.project_out, theirs_layer.project_out)
    breakdown = {}

    def theirs_fn(xt):
        ret, parts = theirs_layer(xt, inv_temperature=30.0, return_loss_breakdown=True)
        breakdown.update(parts._asdict())
        return ret

    ours, theirs, grad, their_grad = run_both(
        lambda v: ours_layer.quantize_with_stats(v, training=True), theirs_fn, x, w)
    np.testing.assert_array_equal(ours["indices"].numpy(), theirs[1].numpy())
    close(ours["quantized"], theirs[0], "quantized")
    close(ours["loss"], theirs[2], "aux loss")
    close(ours["per_sample_entropy"], breakdown["per_sample_entropy"], "per-sample entropy")
    close(ours["batch_entropy"], breakdown["batch_entropy"], "batch entropy")
    close(ours["losses"]["commitment_loss"], 0.7 * breakdown["commitment"], "commitment")
    close(grad, their_grad, "input gradient")
    close(ours_layer.indices_to_codes(ours["indices"]), theirs_layer.indices_to_codes(theirs[1]), "indices_to_codes")


def summed_losses(out):
    """ResidualVQ's (quantized, indices, per-stage losses) with the losses summed, as our `loss` is."""
    return out[0], out[1], out[2].sum()


def test_residual_vq():
    """One training step of EMA stages: outputs, indices, summed commitment losses, input gradients, and the
    codebooks after the EMA update (same decay, Laplace smoothing and initial state N = 1, m = e); then the
    outputs of both updated codebooks in evaluation."""
    rng = np.random.default_rng(2)
    depth, k, d = 3, 64, 8
    x = rng.normal(size=(4, 40, d)).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    theirs_layer = vqp.ResidualVQ(dim=d, codebook_size=k, num_quantizers=depth, decay=0.8, commitment_weight=0.6,
                                  rotation_trick=False)
    theirs_layer.train()
    ours_layer = ResidualQuantizer(VectorQuantizerEMA(k, d, decay=0.8, commitment_cost=0.6, dead_code_threshold=0.0),
                               depth=depth)
    ours_layer.build(x.shape)
    for stage, layer in zip(ours_layer.stages, theirs_layer.layers):
        stage.embeddings.assign(layer._codebook.embed[0].numpy())
        stage.ema_embed_sum.assign(layer._codebook.embed_avg[0].numpy())
    ours, theirs, grad, their_grad = run_both(
        lambda v: ours_layer.quantize_with_stats(v, training=True), lambda xt: summed_losses(theirs_layer(xt)), x, w)
    np.testing.assert_array_equal(ours["indices"].numpy(), theirs[1].numpy())
    close(ours["quantized"], theirs[0], "quantized")
    close(grad, their_grad, "input gradient")
    close(ours["loss"], theirs[2], "summed commitment losses")
    with torch.no_grad():
        theirs_layer.eval()
        quantized, indices, _ = theirs_layer(torch.tensor(x))
    for stage, layer in zip(ours_layer.stages, theirs_layer.layers):
        close(stage.embeddings.value, layer._codebook.embed[0], "EMA-updated codebook")
        close(stage.ema_cluster_size.value, layer._codebook.cluster_size[0], "EMA cluster sizes")
    ours_eval = ours_layer.quantize_with_stats(x)
    np.testing.assert_array_equal(ours_eval["indices"].numpy(), indices.numpy())
    close(ours_eval["quantized"], quantized, "quantized after the update")


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 5, 4]])
def test_residual_fsq(levels):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(4, 60, len(levels))) * 0.8).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    theirs_layer = vqp.ResidualFSQ(levels=levels, num_quantizers=3, dim=len(levels))
    theirs_layer.train()
    ours_layer = ResidualQuantizer(FSQ(levels, preserve_symmetry=True, hard_clamp=True), depth=3)
    ours, theirs, grad, their_grad = run_both(
        lambda v: ours_layer.quantize_with_stats(v, training=True), theirs_layer, x, w)
    np.testing.assert_array_equal(ours["indices"].numpy(), theirs[1].numpy())
    close(ours["quantized"], theirs[0], "quantized")
    close(grad, their_grad, "input gradient")
    close(ours_layer.indices_to_codes(ours["indices"]), theirs_layer.get_output_from_indices(theirs[1]),
          "indices_to_codes")
