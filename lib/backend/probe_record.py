"""The record type that both implementations of lib.backend.gradients return (one probe pass of a
feedforward model: pre-activations, activations, backpropagated and weight gradients, weights)."""

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
