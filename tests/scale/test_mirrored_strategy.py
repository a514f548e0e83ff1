"""`MirroredStrategy` on 2 logical CPU devices equals one device on the global batch (codebook, EMA state, fit, LFQ's
entropy, k-means initialisation)."""

import json
import os
import subprocess
import sys

import pytest

HELPER = os.path.join(os.path.dirname(__file__), "mirrored_run.py")


@pytest.fixture(scope="module")
def runs():
    """Runs the helper once in a fresh process (the logical devices must exist before TensorFlow initialises)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, HELPER], env=env, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_ema_layer_codebook_and_state_equal_one_device_through_a_restart(runs):
    layer = runs["layer"]
    assert layer["num_replicas"] == 2
    assert sum(layer["restarts"]) > 0, layer["restarts"]  # a dead-code restart happened (at step 2)
    # embeddings, ema_cluster_size, ema_embed_sum on both replicas vs one device on the global batch.
    assert layer["max_diff"] < 1e-5, layer
    assert layer["replica_diff"] == 0.0
    # Perplexity is computed on the global batch: both replicas report the one-device value.
    for replica_0, replica_1, one_device in layer["perplexities"]:
        assert replica_0 == replica_1 == pytest.approx(one_device, abs=1e-4)


@pytest.mark.parametrize("model", ["vqvae", "vqgan"])
def test_fit_under_mirrored_strategy_equals_one_device(runs, model):
    run = runs[model]
    assert run["num_replicas"] == 2 and run["iterations"] == [4, 4]
    assert run["codebook_max_diff"] < 1e-5, run
    assert run["codebook_replica_diff"] == 0.0 and run["replica_diff"] == 0.0
    # All other weights: Adam divides by √v, which turns float32 summation-order differences of the all-reduced
    # gradients (≈1e-7) into a few 1e-5 after 4 steps.
    assert run["max_diff"] < 2e-4, run
    for name, values in run["reference_history"].items():
        assert run["mirrored_history"][name] == pytest.approx(values, rel=1e-4, abs=1e-5), name


def test_vqgan_updates_the_discriminator_from_disc_start_only_on_every_replica(runs):
    # disc_start=2 over 4 steps: the generator stepped 4 times, the discriminator twice, as on one device.
    assert runs["vqgan"]["discriminator_iterations"] == [2, 2]
    assert runs["vqgan"]["mirrored_history"]["adaptive_weight"] == pytest.approx(
        runs["vqgan"]["reference_history"]["adaptive_weight"], rel=1e-4
    )


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


def test_vqgan_with_diff_augment_trains_every_replica_in_sync(runs):
    run = runs["vqgan_diff_augment"]
    assert run["num_replicas"] == 2 and run["replica_diff"] == 0.0 and run["finite"], run
    assert run["discriminator_moved"] and run["discriminator_iterations"] == 5
    for name, values in run["history"].items():
        assert all(abs(v) < float("inf") for v in values), name
