"""Measurements on this process's copy of replicated weights (recorders, correlations).

On several hosts a model's variables are JAX arrays that span every process: a computation mixing them
with this process's probe batch fails (as `predict` does: reference/scaleout.md §3), and one on them alone
is a step every process must take. The weights are replicated, so each process holds all of them:
computing on its own copy gives exactly the one-host value, with no communication, and process 0 can
measure alone.
On one host (any backend, one or several devices) values are used as they are.
"""

import contextlib

from lib.distribution.hosts import process_count


def local_copy(value):
    """A replicated array as this process's own copy (on its first device); any other value unchanged."""
    if getattr(value, "is_fully_addressable", True):
        return value
    if not value.is_fully_replicated:
        raise ValueError(f"a measurement needs replicated weights; this array is sharded as {value.sharding}")
    return value.addressable_data(0)


def spans_processes(model) -> bool:
    return any(not getattr(variable.value, "is_fully_addressable", True) for variable in model.variables)


def call_locally(model, x):
    """`model(x, training=False)`, on this process's copy of the weights when they span several processes."""
    if not spans_processes(model):
        return model(x, training=False)
    outputs, _ = model.stateless_call([local_copy(v.value) for v in model.trainable_variables],
                                      [local_copy(v.value) for v in model.non_trainable_variables], x, training=False)
    return outputs


@contextlib.contextmanager
def this_process_only():
    """Keras objects made inside live on this process alone. Under a distribution over several processes,
    creating a variable is a step every process must take (JAX checks the value is the same on all of them),
    so work that process 0 does alone must not create one there: Keras' weight saving does, once (a
    throwaway optimizer). On one host: nothing changes."""
    import keras

    distribution = keras.distribution.distribution()
    if distribution is None or process_count() == 1:
        yield
        return
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(distribution)
