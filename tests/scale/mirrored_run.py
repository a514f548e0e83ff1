"""Helper of test_mirrored_strategy.py, run in a fresh process: the CPU must be split before TensorFlow starts.

Splits the CPU into 2 logical devices, trains the same models under `MirroredStrategy` (global batch split 2 + 2) and
on one device (the whole global batch), from the same weights, and prints one JSON line of differences:

- `layer`: a `VectorQuantizerEMA` stepped by hand, with dead-code restarts;
- `vqvae`: `VQVAE.fit` with an EMA quantizer that restarts codes, and the code-entropy term;
- `vqgan`: `VQGAN.fit` across `disc_start` (both optimizers, the adaptive weight);
- `lfq`: LFQ's entropy terms, each replica holding half of a global batch;
- `kmeans`: a k-means-initialised `VectorQuantizerEMA`'s state after its first training step.
- `vqgan_diff_augment`: `VQGAN.fit` with `diff_augment` under the strategy alone (each replica draws its own
  augmentations, so there is no one-device twin): `replica_diff` and whether every weight stayed finite.

For every run, `max_diff` is the largest |mirrored − one device| over every replica's copy of every variable and
`replica_diff` the largest |replica 0 − replica 1|.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # run as a script

from tests.tiny_models import tiny_vqgan  # noqa: E402
from tests.tiny_models import tiny_vqvae  # noqa: E402
from vqkeras.layers import VectorQuantizerEMA  # noqa: E402
from vqkeras.quantizers import LFQ  # noqa: E402

STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
SMALL = dict(latent_dim=4, base_channels=4)  # half the width of the shared tiny tokenizer


def replica_values(variable):
    value = variable.value if isinstance(variable, keras.Variable) else variable
    return [v.numpy() for v in value.values] if hasattr(value, "values") else [np.asarray(value)]


def compare(mirrored_variables, reference_variables):
    max_diff = replica_diff = 0.0
    for mirrored, reference in zip(mirrored_variables, reference_variables, strict=True):
        copies = replica_values(mirrored)
        ref = np.asarray(reference.numpy(), "float64")
        max_diff = max([max_diff] + [float(np.abs(c - ref).max(initial=0.0)) for c in copies])
        replica_diff = max([replica_diff] + [float(np.abs(c - copies[0]).max(initial=0.0)) for c in copies])
    return {"max_diff": max_diff, "replica_diff": replica_diff, "num_replicas": len(copies)}


def layer_run(steps=5):
    """Hand-stepped EMA quantizer: unused codes decay below the threshold within 2 steps and are restarted."""
    x = np.random.default_rng(0).normal(size=(4, 16, 8)).astype("float32")

    def make():
        layer = VectorQuantizerEMA(32, 8, decay=0.5, dead_code_threshold=0.3, seed=3)
        layer.build((None, 16, 8))
        return layer

    with STRATEGY.scope():
        mirrored = make()
    reference = make()
    reference.set_weights(mirrored.get_weights())
    per_replica = STRATEGY.experimental_distribute_values_from_function(
        lambda ctx: x[2 * ctx.replica_id_in_sync_group : 2 * ctx.replica_id_in_sync_group + 2]
    )

    @tf.function
    def mirrored_step(batch):
        return STRATEGY.run(lambda b: mirrored.quantize_with_stats(b, training=True)["perplexity"], args=(batch,))

    @tf.function
    def reference_step(batch):
        return reference.quantize_with_stats(batch, training=True)["perplexity"]

    restarts, perplexities = [], []
    for _ in range(steps):
        replica_perplexities = STRATEGY.experimental_local_results(mirrored_step(per_replica))
        perplexities.append([float(p) for p in replica_perplexities] + [float(reference_step(x))])
        # A restart leaves a code's count at exactly the threshold.
        restarts.append(int(np.sum(reference.ema_cluster_size.numpy() == np.float32(0.3))))
    variables = ("embeddings", "ema_cluster_size", "ema_embed_sum")
    result = compare([getattr(mirrored, v) for v in variables], [getattr(reference, v) for v in variables])
    result.update(restarts=restarts, perplexities=perplexities)
    return result


def fit_run(make, steps=4, batch_size=4):
    x = np.random.default_rng(1).uniform(-1, 1, (steps * batch_size, 8, 8, 1)).astype("float32")
    with STRATEGY.scope():
        mirrored = make()
        mirrored.build((None, 8, 8, 1))
    reference = make()
    reference.build((None, 8, 8, 1))
    reference.set_weights(mirrored.get_weights())
    mirrored_history = mirrored.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=0).history
    reference_history = reference.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=0).history
    result = compare(mirrored.weights, reference.weights)
    quantizer = ("embeddings", "ema_cluster_size", "ema_embed_sum")
    codebook = compare([getattr(mirrored.quantizer, v) for v in quantizer],
                       [getattr(reference.quantizer, v) for v in quantizer])
    result.update(
        codebook_max_diff=codebook["max_diff"],
        codebook_replica_diff=codebook["replica_diff"],
        mirrored_history=mirrored_history,
        reference_history=reference_history,
        iterations=[int(mirrored.optimizer.iterations.numpy()), int(reference.optimizer.iterations.numpy())],
    )
    return result, mirrored, reference


def vqvae_run():
    def make():
        quantizer = VectorQuantizerEMA(16, 4, decay=0.5, dead_code_threshold=0.3, seed=5, name="quantizer")
        # The code-entropy term (adaptive temperature) is all-reduced: one value over the global batch.
        model = tiny_vqvae(**SMALL, quantizer=quantizer, code_entropy_weight=0.5)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model

    result, _, _ = fit_run(make)
    return result


def vqgan_run():
    def make():
        # No normalisation in D: BatchNorm's batch statistics are per replica by design, which would make the
        # discriminator's forward pass differ from one device on the global batch.
        model = tiny_vqgan(**SMALL, disc_filters=4, disc_norm="none", disc_start=2)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), discriminator_optimizer=keras.optimizers.Adam(1e-3)
        )
        return model

    result, mirrored, reference = fit_run(make)
    result["discriminator_iterations"] = [
        int(mirrored.discriminator_optimizer.iterations.numpy()),
        int(reference.discriminator_optimizer.iterations.numpy()),
    ]
    return result


def halves(x):
    """A distributed value whose replica i holds the i-th half of `x`."""
    n = len(x) // 2
    return STRATEGY.experimental_distribute_values_from_function(lambda ctx: x[ctx.replica_id_in_sync_group * n:][:n])


def lfq_run():
    """LFQ's batch entropy over the global batch on every replica; one device on it; one replica's half alone."""
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(64, 6)) * 0.1).astype("float32")
    x[:32] += 0.2  # the halves differ: a replica's own batch mean is not the global one
    keys = ("batch_entropy", "per_sample_entropy")

    def make():
        return LFQ(6, inverse_temperature=20.0, entropy_group_bits=3)

    with STRATEGY.scope():
        layer = make()
        layer.build((None, 6))
    step = tf.function(lambda v: STRATEGY.run(
        lambda r: {k: layer.quantize_with_stats(r, training=True)[k] for k in keys}, args=(v,)))
    out = step(halves(x))
    one = make().quantize_with_stats(tf.constant(x), training=True)
    return {
        "one_device": {k: float(one[k]) for k in keys},
        "replicas": {k: [float(v) for v in STRATEGY.experimental_local_results(out[k])] for k in keys},
        "local_batch_entropy": float(make().quantize_with_stats(tf.constant(x[:32]))["batch_entropy"]),
    }


def kmeans_run():
    """k-means initialisation on the gathered global batch, then the EMA step, against one device."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(loc=c, scale=0.2, size=(40, 3)) for c in (-3.0, 0.0, 3.0, 6.0)]).astype("float32")
    x = x[rng.permutation(len(x))]

    def make():
        layer = VectorQuantizerEMA(8, 3, kmeans_init=True, kmeans_iters=6, seed=5, decay=0.9)
        layer.build((None, 3))
        return layer

    with STRATEGY.scope():
        mirrored = make()
    reference = make()
    tf.function(lambda v: STRATEGY.run(lambda r: mirrored.quantize_with_stats(r, training=True)["loss"],
                                       args=(v,)))(halves(x))
    reference.quantize_with_stats(tf.constant(x), training=True)
    result = compare(mirrored.weights, reference.weights)
    result["initialized"] = float(reference.kmeans_initialized.numpy())
    return result


def vqgan_diff_augment_run(steps=4, batch_size=4):
    x = np.random.default_rng(2).uniform(-1, 1, (steps * batch_size, 8, 8, 1)).astype("float32")
    with STRATEGY.scope():
        model = tiny_vqgan(**SMALL, disc_filters=4, disc_norm="none", disc_start=0,
                           diff_augment=("color", "translation", "cutout"))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), discriminator_optimizer=keras.optimizers.Adam(1e-3))
        model.build((None, 8, 8, 1))
    history = model.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=0).history
    before = [np.asarray(v.numpy()).copy() for v in model.discriminator.weights]
    model.fit(x[:batch_size], batch_size=batch_size, epochs=1, verbose=0)
    copies = [replica_values(v) for v in model.weights]
    return {
        "replica_diff": max(float(np.abs(c - values[0]).max(initial=0.0)) for values in copies for c in values),
        "num_replicas": len(copies[0]),
        "finite": all(bool(np.isfinite(c).all()) for values in copies for c in values),
        "discriminator_moved": any(not np.array_equal(b, v.numpy()) for b, v in zip(before,
                                                                                     model.discriminator.weights)),
        "discriminator_iterations": int(model.discriminator_optimizer.iterations.numpy()),
        "history": history,
    }


if __name__ == "__main__":
    runs = {"layer": layer_run, "vqvae": vqvae_run, "vqgan": vqgan_run, "lfq": lfq_run, "kmeans": kmeans_run,
            "vqgan_diff_augment": vqgan_diff_augment_run}
    names = sys.argv[1:] or list(runs)
    print(json.dumps({name: runs[name]() for name in names}))
