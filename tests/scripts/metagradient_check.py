"""Metagradients of a tiny DiversityNN configuration under the backend KERAS_BACKEND names, saved to
sys.argv[1] (.npz) for tests/diversity/test_metagradient.py:

  float64 unrolled metagradient and its central finite differences (every outer parameter);
  float64 first-order metagradient and the finite differences of its definition, the loss of the
          trained classifier (held fixed) on the final batch;
  float32 unrolled metagradient at a slightly larger size, for the cross-backend comparison.
Run with JAX_ENABLE_X64=1 on JAX (float64). The initial values and data are made by NumPy, so both
backends start from the same numbers.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

import keras
import numpy as np

from lib.backend.metagradient import Metagradient
from lib.studies.diversity import networks

EPSILON = 1e-6  # central differences in float64: truncation ~eps^2, round-off ~1e-16/eps


def problem(dtype, n=2, width=4, inputs=5, hidden=7, classes=3, batch=4, steps=3, seed=0):
    """Outer and inner parameters and `steps` batches of random data, all from one NumPy generator."""
    rng = np.random.default_rng(seed)
    outer = networks.initial_activation_networks(rng, n, width, dtype)
    inner = networks.initial_classifier(rng, inputs, hidden, classes, dtype)

    def batch_of(shape_prefix):
        return {"x": rng.normal(size=(*shape_prefix, batch, inputs)).astype(dtype),
                "y": np.eye(classes, dtype=dtype)[rng.integers(0, classes, (*shape_prefix, batch))],
                "activation_noise": networks.uniform_noise(rng, (*shape_prefix, n, width), dtype),
                "hidden_noise": networks.uniform_noise(rng, (*shape_prefix, hidden), dtype)}

    return outer, inner, batch_of((steps,)), batch_of(()), networks.block_assignment(hidden, n)


def perturbed(outer, key, index, delta):
    changed = {k: v.copy() for k, v in outer.items()}
    changed[key][index] += delta
    return changed


def finite_differences(objective, outer):
    """d objective / d outer by central differences, entry by entry."""
    return {key: np.array([(objective(perturbed(outer, key, i, EPSILON)) - objective(perturbed(outer, key, i, -EPSILON)))
                           / (2 * EPSILON) for i in np.ndindex(value.shape)]).reshape(value.shape)
            for key, value in outer.items()}


def main(path):
    arrays = {}
    keras.config.set_floatx("float64")
    # Keras' type promotion maps float64 results to float32 on every backend "to be aligned with JAX's
    # default" (keras.src.backend.common.dtypes), which makes ops.sin / ops.tanh float32 on JAX even with
    # JAX_ENABLE_X64. For this float64 check only, that mapping is switched off (a private table, test-only).
    from keras.src.backend.common import dtypes

    dtypes.BIT64_TO_BIT32_DTYPE.clear()
    outer, inner, batches, final, assignment = problem("float64")
    loss = networks.inner_loss_function(assignment, "sin")
    update = networks.rmsprop_update(0.05, 0.8)
    state = networks.initial_optimizer_state(inner)
    unrolled = Metagradient(loss, update, "unrolled")
    step = unrolled(outer, inner, state, batches, final)
    arrays.update({f"unrolled/{k}": v for k, v in step.gradients.items()})
    fd = finite_differences(lambda o: unrolled(o, inner, state, batches, final).outer_loss, outer)
    arrays.update({f"unrolled_fd/{k}": v for k, v in fd.items()})

    first = Metagradient(loss, update, "first_order")(outer, inner, state, batches, final)
    arrays.update({f"first_order/{k}": v for k, v in first.gradients.items()})
    trained = first.final_inner
    fd = finite_differences(lambda o: float(keras.ops.convert_to_numpy(loss(o, trained, final))), outer)
    arrays.update({f"first_order_fd/{k}": v for k, v in fd.items()})
    arrays["first_order/outer_loss"] = np.float64(first.outer_loss)
    arrays["unrolled/outer_loss"] = np.float64(step.outer_loss)
    arrays.update({f"first_order/final_{k}": v for k, v in trained.items()})
    arrays.update({f"unrolled/final_{k}": v for k, v in step.final_inner.items()})

    keras.config.set_floatx("float32")
    outer, inner, batches, final, assignment = problem("float32", n=3, width=8, inputs=10, hidden=16, classes=4,
                                                       batch=8, steps=6, seed=1)
    step = Metagradient(networks.inner_loss_function(assignment, "tanh"), networks.rmsprop_update(0.01, 0.8))(
        outer, inner, networks.initial_optimizer_state(inner), batches, final)
    arrays.update({f"float32/{k}": v for k, v in step.gradients.items()})
    arrays["float32/inner_losses"] = step.inner_losses
    np.savez(path, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
