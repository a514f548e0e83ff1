"""Eager calls of model methods through one `tf.function` per method and model, built on first use.

Called eagerly, a Keras model runs its layers op by op, each op paying Python and dispatch overhead; a small model on
a small batch spends most of its time there. `run_compiled` runs the method's body as a graph instead, the way a
SavedModel signature does. Argument checks stay outside, in the eager caller, so bad input still fails with a
`ValueError` naming the argument before any work.

The functions are traced with `reduce_retracing=True`: a second input shape (another batch size or image size)
traces once more with the differing dimensions relaxed to `None`, and later shapes reuse that trace. Inside an outer
graph (a SavedModel signature, a `tf.data` map, `fit`) the body is called directly, so those graphs are unchanged.
"""

import tensorflow as tf

_ATTRIBUTE = "_compiled_calls"


class _CompiledCalls:
    """`{name: tf.function}` of one model. A plain object, not a trackable: Keras and TensorFlow's tracking skip it,
    so the functions never enter a `.keras` file, a checkpoint, a SavedModel or `get_config`."""

    def __init__(self):
        self.functions = {}


def compiled_function(owner, name, fn=None):
    """The `tf.function` of `owner`'s method `name`, made from `fn` on first use (`None` if not made and no `fn`)."""
    calls = getattr(owner, _ATTRIBUTE, None)
    if calls is None:
        if fn is None:
            return None
        calls = _CompiledCalls()
        setattr(owner, _ATTRIBUTE, calls)
    if name not in calls.functions and fn is not None:
        calls.functions[name] = tf.function(fn, reduce_retracing=True)
    return calls.functions.get(name)


def run_compiled(owner, name, fn, *args):
    """`fn(*args)`: through `owner`'s cached `tf.function` when executing eagerly, directly inside a graph."""
    if not tf.executing_eagerly():
        return fn(*args)
    return compiled_function(owner, name, fn)(*args)
