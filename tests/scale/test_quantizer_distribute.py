"""`MirroredStrategy` on 2 logical CPUs equals one device on the global batch: LFQ's entropy and k-means init."""

import json
import os
import subprocess
import sys

import pytest

HELPER = os.path.join(os.path.dirname(__file__), "quantizer_mirrored_run.py")


@pytest.fixture(scope="module")
def runs():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, HELPER], env=env, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_lfq_batch_entropy_is_the_global_batch_entropy_on_every_replica(runs):
    lfq = runs["lfq"]
    for value in lfq["replicas"]["batch_entropy"]:
        assert value == pytest.approx(lfq["one_device"]["batch_entropy"], abs=1e-5)
    # The per-sample term is each replica's mean; their mean is the global mean (equal halves).
    assert sum(lfq["replicas"]["per_sample_entropy"]) / 2 == pytest.approx(
        lfq["one_device"]["per_sample_entropy"], abs=1e-5)
    # Not vacuous: a replica's own half has another batch entropy.
    assert abs(lfq["local_batch_entropy"] - lfq["one_device"]["batch_entropy"]) > 1e-2


def test_kmeans_init_and_the_ema_step_equal_one_device_on_the_global_batch(runs):
    kmeans = runs["kmeans"]
    assert kmeans["num_replicas"] == 2 and kmeans["initialized"] == 1.0
    assert kmeans["max_diff"] < 1e-5, kmeans
    assert kmeans["replica_diff"] == 0.0, kmeans
