"""Helper of test_multi_worker.py: one worker of a 2-worker `MultiWorkerMirroredStrategy` cluster on 127.0.0.1.

Usage: `python multi_worker_run.py TASK_INDEX PORT0,PORT1 OUT_DIR`. Sets `TF_CONFIG`, fits a tiny `VQVAE` and writes
`OUT_DIR/worker_TASK_INDEX.npz` (every weight, in order) and `.json` (history, iterations). Then it probes whether a
plain `keras.Sequential` still hits keras-team/keras#20585 and adds the outcome to the JSON.
"""

import json
import os
import sys

TASK_INDEX, PORTS, OUT_DIR = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
os.environ["TF_CONFIG"] = json.dumps(
    {"cluster": {"worker": [f"127.0.0.1:{p}" for p in PORTS]}, "task": {"type": "worker", "index": TASK_INDEX}}
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vqkeras.layers import VectorQuantizerEMA  # noqa: E402
from vqkeras.models import VQVAE  # noqa: E402
from vqkeras.distribute import needs_multi_worker_workaround  # noqa: E402


def smooth_images(n, size=8, seed=0):
    """Low-frequency images that a tiny VQ-VAE learns within a few steps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    a, b, c = rng.uniform(-1, 1, (3, n, 1, 1))
    return np.clip(a * xx + b * yy + c * 0.5, -1, 1)[..., None].astype("float32")


def main():
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = VQVAE(
            image_channels=1,
            base_channels=4,
            channel_multipliers=(1, 2),
            num_res_blocks=0,
            use_attention=False,
            quantizer=VectorQuantizerEMA(16, 4, decay=0.8, seed=1, name="quantizer"),
        )
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = smooth_images(32)
    history = model.fit(x, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    result = {
        "workaround": bool(needs_multi_worker_workaround(strategy)),
        "num_replicas": strategy.num_replicas_in_sync,
        "history": history,
        "iterations": int(model.optimizer.iterations.numpy()),
    }
    np.savez(os.path.join(OUT_DIR, f"worker_{TASK_INDEX}.npz"), *[w.numpy() for w in model.weights])
    path = os.path.join(OUT_DIR, f"worker_{TASK_INDEX}.json")
    with open(path, "w") as f:
        json.dump(result, f)

    # Does a plain Keras model still fail upstream? Our override must not have changed it.
    with strategy.scope():
        plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        plain.compile(optimizer="sgd", loss="mse")
    try:
        plain.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), batch_size=4, epochs=1, verbose=0)
        result["plain_keras_model"] = "ok"
    except Exception as e:  # noqa: BLE001 - recorded for the test
        result["plain_keras_model"] = f"{type(e).__name__}: {str(e)[:200]}"
    with open(path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
