"""Activations and gradients of a feedforward model on a probe batch, in one forward/backward pass.

Backend-specific (DESIGN.md, principle 6): `FeedforwardProbe(model)` returns the
implementation of the running Keras backend, lib.backend.gradients_tensorflow (a GradientTape over a
multi-output probe model) or lib.backend.gradients_jax (`stateless_call` + `jax.grad` with zero "tap"
inputs added to the pre-activations). Both return the same ProbeRecord.

For hidden layer i (Dense `dense_i` -> Activation `act_i`), with s = pre-activation,
z = activation, C_n the cross-entropy of example n and L = mean_n C_n over the probe batch:
  preactivations[i]      s_i                       (examples, units)
  activations[i]         z_i (softmax for the output layer)
  backprop[i]            dC_n/ds_i per example     (examples, units)   paper Fig. 7
  weight_gradients[i]    dL/dW_i, dL/db_i          kernel and bias shapes  paper Figs. 8, 9
Since s_i of example n only affects C_n, dC_n/ds_i,n = N * dL/ds_i,n: one tape gives all.
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass
class ProbeRecord:
    KINDS: ClassVar[tuple[str, ...]] = ("activations", "preactivations", "backprop_gradients", "gradients", "weights")

    layers: list[str]  # Dense layer names, dense_1 .. dense_{H+1}
    preactivations: dict[str, np.ndarray]
    activations: dict[str, np.ndarray]
    backprop: dict[str, np.ndarray]
    kernel_gradients: dict[str, np.ndarray]
    bias_gradients: dict[str, np.ndarray]
    kernels: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]

    def as_groups(self, *, with_weights: bool) -> dict[str, dict[str, np.ndarray]]:
        """The record as {h5 kind: {key: array}}, keys as in xavier_init's files (`dense_2`, `dense_2_kernel`)."""
        groups = {
            "activations": self.activations,
            "preactivations": self.preactivations,
            "backprop_gradients": self.backprop,
            "gradients": {**{f"{k}_kernel": v for k, v in self.kernel_gradients.items()},
                          **{f"{k}_bias": v for k, v in self.bias_gradients.items()}},
        }
        if with_weights:
            groups["weights"] = {**{f"{k}_kernel": v for k, v in self.kernels.items()},
                                 **{f"{k}_bias": v for k, v in self.biases.items()}}
        return groups


def dense_layer_names(model) -> list[str]:
    names = [layer.name for layer in model.layers if layer.name.startswith("dense_")]
    return sorted(names, key=lambda name: int(name.split("_")[1]))


def FeedforwardProbe(model):  # noqa: N802 (a factory standing in for the backend's class)
    """The probe of `model` for the running Keras backend; `capture(x, y)` gives a ProbeRecord."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        from lib.backend.gradients_tensorflow import TensorFlowFeedforwardProbe

        return TensorFlowFeedforwardProbe(model)
    if backend == "jax":
        from lib.backend.gradients_jax import JaxFeedforwardProbe

        return JaxFeedforwardProbe(model)
    raise NotImplementedError(f"activation/gradient recording is implemented for tensorflow and jax, not {backend}")
