"""`tf.distribute` helpers shared by the models and the priors, and the keras-team/keras#20585 workaround.

- Losses are per-replica means divided by the number of replicas (`replica_scaled`), so that the gradients the
  strategy sums over the replicas are those of the global mean.
- keras-team/keras#20585: Keras 3's `fit`/`evaluate` under `MultiWorkerMirroredStrategy` fail (1) in
  `_maybe_symbolic_build`, which reduces the distributed first batch with `strategy.reduce("MEAN", batch, axis=None)`,
  and (2) in `reduce_per_replica`, which reduces the scalar logs with `axis=0`. A model works around both with
  `local_first_batch` (build from this worker's first local replica batch) and `rank_1_logs` (logs of shape `(1,)`,
  which Keras' reduction averages over the replicas), only when `needs_multi_worker_workaround(strategy)`.
"""

import keras
import tensorflow as tf

# Open upstream and reproduced with Keras 3.0 to 3.15.1 (TF 2.16 to 2.21); once a fixed release exists, set its
# version here.
_KERAS_20585_FIXED_IN = None


def replica_scaled(loss):
    """Divides `loss` by the number of replicas in sync, so summed replica gradients give the global mean."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return loss
    return loss / ctx.num_replicas_in_sync


def replica_all_reduce(value, op):
    """`value` reduced with `op` (a `tf.distribute.ReduceOp`) over the replicas in sync; identity outside
    `tf.distribute` or with one replica."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(op, value)


def replica_mean(value):
    """Mean of `value` (a tensor) over the replicas in sync; identity outside `tf.distribute`."""
    return replica_all_reduce(value, tf.distribute.ReduceOp.MEAN)


def _parse_version(text):
    return tuple(int("".join(c for c in part if c.isdigit()) or 0) for part in text.split(".")[:3])


def keras_has_issue_20585(keras_version=None):
    """Whether this Keras (or `keras_version`) has keras-team/keras#20585."""
    version = _parse_version(keras_version or keras.version())
    fixed_in = _KERAS_20585_FIXED_IN and _parse_version(_KERAS_20585_FIXED_IN)
    return version >= (3, 0, 0) and (not fixed_in or version < fixed_in)


def needs_multi_worker_workaround(strategy):
    """Whether `fit`/`evaluate` of a vqkeras model under `strategy` need the keras-team/keras#20585 workaround."""
    return (
        keras_has_issue_20585()
        and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def local_first_batch(strategy, iterator):
    """The first batch of Keras' epoch `iterator`, each distributed value replaced by this worker's first local
    replica's (keras-team/keras#20585, failure 1: Keras would reduce the distributed batch across workers)."""
    for _, _, batches in iterator:
        return tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v,
            next(batches),
        )
    return None


def rank_1_logs(step_function):
    """Wraps a train/test step so its scalar logs have shape `(1,)`: Keras' multi-worker `reduce_per_replica` then
    averages them over the replicas with `axis=0` and returns scalars (keras-team/keras#20585, failure 2)."""

    def step(data):
        logs = step_function(data)
        return {name: tf.reshape(v, (1,)) if v.shape.rank == 0 else v for name, v in logs.items()}

    return step
