"""ResidualQuantizer against a NumPy reference: stages on residuals, FSQ scales, shared codebook, dropout, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tests.quantizers.conftest import keras_round_trip
from tests.quantizers.test_fsq import numpy_fsq
from tests.quantizers.test_fsq import numpy_index
from vqkeras.quantizers import FSQ
from vqkeras.quantizers import LFQ
from vqkeras.quantizers import ResidualQuantizer
from vqkeras.quantizers import VectorQuantizer
from vqkeras.quantizers import VectorQuantizerEMA


def numpy_residual_vq(x, codebooks):
    residual, total, indices = x.astype("float64"), 0.0, []
    for e in codebooks:
        idx = ((residual[:, None] - e[None]) ** 2).sum(-1).argmin(1)
        total = total + e[idx]
        residual = residual - e[idx]
        indices.append(idx)
    return total, np.stack(indices, -1)


@pytest.mark.parametrize("cls", [VectorQuantizerEMA, VectorQuantizer])
def test_residual_vq_matches_numpy_and_round_trips_indices(cls, rng):
    rq = ResidualQuantizer(cls(32, 4, commitment_cost=0.5), depth=3)
    x = rng.normal(size=(2, 5, 5, 4)).astype("float32")
    out = rq.quantize_with_stats(x)
    codebooks = [stage.embeddings.numpy() for stage in rq.stages]
    assert len(codebooks) == 3 and not np.allclose(codebooks[0], codebooks[1])
    total, indices = numpy_residual_vq(x.reshape(-1, 4), codebooks)
    np.testing.assert_array_equal(out["indices"].numpy().reshape(-1, 3), indices)
    np.testing.assert_allclose(out["quantized"].numpy().reshape(-1, 4), total, atol=1e-5)
    assert rq.index_shape == (3,) and rq.codebook_size == 32 and out["indices"].shape == (2, 5, 5, 3)
    np.testing.assert_array_equal(rq.codes_to_indices(x).numpy(), out["indices"].numpy())
    np.testing.assert_allclose(rq.indices_to_codes(out["indices"]).numpy(), out["quantized"].numpy(), atol=1e-5)
    # Commitment per stage on its residual, summed.
    residual, commitment = x.reshape(-1, 4).astype("float64"), 0.0
    for stage, e in enumerate(codebooks):
        code = e[indices[:, stage]]
        commitment += 0.5 * np.mean((residual - code) ** 2)
        residual = residual - code
    np.testing.assert_allclose(out["losses"]["commitment_loss"].numpy(), commitment, rtol=1e-5)
    # Straight through every stage: d(Σq)/dx = depth · I.
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(rq(xv))
    np.testing.assert_allclose(tape.gradient(y, xv).numpy(), 3.0, rtol=1e-6)


def test_residual_fsq_scales_each_stage_by_the_levels(rng):
    levels = [5, 4, 3]
    rq = ResidualQuantizer(FSQ(levels, preserve_symmetry=True, hard_clamp=True), depth=3)
    x = rng.normal(size=(200, 3)).astype("float32")
    out = rq.quantize_with_stats(x)
    lv = np.array(levels, "float64")
    c = 1 + 1 / (lv - 1)
    residual = np.tanh(x / c) * c
    total, indices = 0.0, []
    for stage in range(3):
        scale = lv ** -stage
        # hard clamp = the symmetric bound with clip in place of tanh
        k = np.floor((lv - 1) * (np.clip(residual / scale, -1, 1) + 1) / 2 + 0.5)
        q = (2 * k / (lv - 1) - 1) * scale
        total, residual = total + q, residual - q
        indices.append(numpy_index(k, levels))
    np.testing.assert_allclose(out["quantized"].numpy(), total, atol=1e-6)
    np.testing.assert_array_equal(out["indices"].numpy(), np.stack(indices, -1))
    np.testing.assert_allclose(rq.indices_to_codes(out["indices"]).numpy(), total, atol=1e-6)
    assert out["loss"].numpy() == 0.0
    _ = numpy_fsq  # the single-stage reference is in test_fsq


def test_shared_codebook_is_one_codebook_updated_once_per_step(rng):
    rq = ResidualQuantizer(VectorQuantizerEMA(16, 4, decay=0.5, dead_code_threshold=0.0), depth=2,
                           shared_codebook=True)
    x = rng.normal(size=(64, 4)).astype("float32")
    rq.build(x.shape)
    assert len(rq.stages) == 1 and len(rq.weights) == 3
    e0 = rq.stages[0].embeddings.numpy().astype("float64")
    total, indices = numpy_residual_vq(x, [e0, e0])
    out = rq.quantize_with_stats(x, training=True)
    np.testing.assert_array_equal(out["indices"].numpy(), indices)
    # One EMA step over both stages' residuals together.
    rows = np.concatenate([x, x - e0[indices[:, 0]]])
    idx = indices.T.reshape(-1)
    counts = np.bincount(idx, minlength=16)
    sums = np.zeros((16, 4))
    np.add.at(sums, idx, rows)
    n = 0.5 * 1 + 0.5 * counts
    m = 0.5 * e0 + 0.5 * sums
    smoothed = (n + 1e-5) / (n.sum() + 16e-5) * n.sum()
    np.testing.assert_allclose(rq.stages[0].ema_cluster_size.numpy(), n, rtol=1e-6)
    np.testing.assert_allclose(rq.stages[0].embeddings.numpy(), m / smoothed[:, None], rtol=1e-4, atol=1e-6)


def test_quantize_dropout_leaves_out_the_last_stages(rng):
    rq = ResidualQuantizer(VectorQuantizerEMA(16, 4), depth=4, quantize_dropout=True,
                           quantize_dropout_cutoff_index=1, seed=0)
    x = rng.normal(size=(30, 4)).astype("float32")
    rq.build(x.shape)
    seen = set()
    for _ in range(25):
        codebooks = [s.embeddings.numpy() for s in rq.stages]
        out = rq.quantize_with_stats(x, training=True)
        idx = out["indices"].numpy()
        kept = int((idx[0] >= 0).sum())
        seen.add(kept)
        assert (idx[:, :kept] >= 0).all() and (idx[:, kept:] == -1).all()
        total, indices = numpy_residual_vq(x, codebooks[:kept])
        np.testing.assert_array_equal(idx[:, :kept], indices)
        np.testing.assert_allclose(out["quantized"].numpy(), total, atol=1e-5)
        updated = sum(s.embeddings.numpy()[idx[:, i]] for i, s in enumerate(rq.stages[:kept]))
        np.testing.assert_allclose(rq.indices_to_codes(idx).numpy(), updated, atol=1e-5)  # -1: no code
    assert seen == {2, 3, 4}
    assert (rq.quantize_with_stats(x)["indices"].numpy() >= 0).all()  # never outside training


@pytest.mark.parametrize("make, match", [
    (lambda: ResidualQuantizer(VectorQuantizerEMA(8, 4), depth=0), "depth=0"),
    (lambda: ResidualQuantizer(VectorQuantizerEMA(8, 4), depth=2.0), "depth=2.0"),
    (lambda: ResidualQuantizer(LFQ(4), depth=2), "quantizer=<LFQ"),
    (lambda: ResidualQuantizer(VectorQuantizerEMA(8, 4, codebook_dim=2), depth=2), "codebook_dim=2"),
    (lambda: ResidualQuantizer(FSQ([5, 5], embedding_dim=4), depth=2), "embedding_dim=4"),
    (lambda: ResidualQuantizer(FSQ([5, 5]), depth=2, shared_codebook=True), "shared_codebook=True"),
    (lambda: ResidualQuantizer(VectorQuantizerEMA(8, 4), depth=2, quantize_dropout_cutoff_index=2),
     "quantize_dropout_cutoff_index=2"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_indices():
    rq = ResidualQuantizer(VectorQuantizerEMA(8, 4), depth=2)
    rq.build((None, 4))
    with pytest.raises(ValueError, match=r"index shape \(2,\).*\(3, 3\)"):
        rq.indices_to_codes(np.zeros((3, 3), "int32"))
    with pytest.raises(ValueError, match=r"\[-1, 8\).*\[-2, 0\]"):
        rq.indices_to_codes(np.array([[0, -2]]))


@pytest.mark.parametrize("template", [VectorQuantizerEMA(8, 6, seed=1), FSQ([5, 3, 3, 3, 3, 3]),
                                      VectorQuantizer(8, 6, kmeans_init=True)])
def test_keras_round_trip(template, rng, tmp_path):
    z = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    keras_round_trip(ResidualQuantizer(template, depth=2, quantize_dropout=True, name="rq"), z, tmp_path)
