"""Helper of test_quantizer_distribute.py, run in a fresh process (the CPU is split before TensorFlow starts).

On 2 logical CPUs under `MirroredStrategy`, each replica gets half of a global batch; one device gets all of it.
Prints one JSON line comparing LFQ's entropy terms and a k-means-initialised VQ-EMA's state after a training step.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # run as a script

from vqkeras.quantizers import LFQ  # noqa: E402
from vqkeras.quantizers import VectorQuantizerEMA  # noqa: E402

STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
RNG = np.random.default_rng(0)


def halves(x):
    """A distributed value whose replica i holds the i-th half of `x`."""
    n = len(x) // 2
    return STRATEGY.experimental_distribute_values_from_function(lambda ctx: x[ctx.replica_id_in_sync_group * n:][:n])


def per_replica(value):
    return [np.asarray(v) for v in STRATEGY.experimental_local_results(value)]


def lfq_entropy():
    x = (RNG.normal(size=(64, 6)) * 0.1).astype("float32")
    x[:32] += 0.2  # the halves differ: a replica's local batch mean differs from the global one
    make = lambda: LFQ(6, inverse_temperature=20.0, entropy_group_bits=3)  # noqa: E731
    one = make().quantize_with_stats(tf.constant(x), training=True)
    with STRATEGY.scope():
        layer = make()
        layer.build((None, 6))
    keys = ("batch_entropy", "per_sample_entropy", "loss")
    step = tf.function(lambda v: STRATEGY.run(
        lambda r: {k: layer.quantize_with_stats(r, training=True)[k] for k in keys}, args=(v,)))
    out = step(halves(x))
    local = make().quantize_with_stats(tf.constant(x[:32]), training=True)
    return {
        "one_device": {k: float(one[k]) for k in ("batch_entropy", "per_sample_entropy", "loss")},
        "replicas": {k: [float(v) for v in per_replica(out[k])] for k in ("batch_entropy", "per_sample_entropy",
                                                                         "loss")},
        "local_batch_entropy": float(local["batch_entropy"]),
    }


def kmeans_state():
    x = np.concatenate([RNG.normal(loc=c, scale=0.2, size=(40, 3)) for c in (-3.0, 0.0, 3.0, 6.0)]).astype("float32")
    x = x[RNG.permutation(len(x))]
    make = lambda: VectorQuantizerEMA(8, 3, kmeans_init=True, kmeans_iters=6, seed=5, decay=0.9)  # noqa: E731
    one = make()
    one.build((None, 3))
    one.quantize_with_stats(tf.constant(x), training=True)
    with STRATEGY.scope():
        layer = make()
        layer.build((None, 3))
    tf.function(lambda v: STRATEGY.run(lambda r: layer.quantize_with_stats(r, training=True)["loss"], args=(v,)))(
        halves(x))
    diffs, replica_diffs = [], []
    for ours, reference in zip(layer.weights, one.weights):
        values = [np.asarray(v) for v in STRATEGY.experimental_local_results(ours.value)]
        diffs.append(max(float(np.abs(v - reference.numpy()).max()) for v in values))
        replica_diffs.append(float(np.abs(values[0] - values[1]).max()))
    return {"max_diff": max(diffs), "replica_diff": max(replica_diffs),
            "initialized": float(one.kmeans_initialized.numpy()), "num_replicas": STRATEGY.num_replicas_in_sync}


print(json.dumps({"lfq": lfq_entropy(), "kmeans": kmeans_state()}))
