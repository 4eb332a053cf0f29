"""The record type that both implementations of lib.backend.gradients return (one probe pass of a
model: the chosen layers' outputs, the activations after them, backpropagated and weight gradients,
weights), and `probe_spec`, which resolves the layers a probe records, the same on both backends."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass
class ProbeRecord:
    KINDS: ClassVar[tuple[str, ...]] = ("activations", "preactivations", "backprop_gradients", "gradients", "weights")

    layers: list[str]  # the probed layers (ProbeSpec.layers); by default the Dense layers dense_1 .. dense_{H+1}
    preactivations: dict[str, np.ndarray]  # each probed layer's output (a Dense layer's: its pre-activation)
    activations: dict[str, np.ndarray]  # the output of the layer read after each probed layer (ProbeSpec.activations)
    backprop: dict[str, np.ndarray]  # per example, the gradient of its loss with respect to the probed layer's output
    kernel_gradients: dict[str, np.ndarray]  # dL/dW, dL/db of the probed layers that have a kernel and a bias
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


def categorical_crossentropy(y, output):
    """The default per-example loss C_n: the cross-entropy of the softmax `output` against one-hot `y`."""
    import keras

    return keras.losses.categorical_crossentropy(y, output)


@dataclass(frozen=True)
class ProbeSpec:
    """What one probe pass records, by layer name, for either backend.

    layers: the layers whose output is recorded with the per-example gradient of the loss with respect to it
        (and, for a layer with a kernel and a bias, with its weights and their gradients: `weighted`).
    activations: one layer per probed layer, in the same order, whose output is recorded forward only and
        keyed by the probed layer's name (empty: none).
    loss: C_n = loss(y, model output), one value per example; the pass differentiates their mean.
    """

    layers: list[str]
    activations: list[str]
    weighted: list[str]
    loss: Callable


def probe_spec(model, layers=None, *, loss=None) -> ProbeSpec:
    """The ProbeSpec of `model`. By default the glorot study's: every Dense layer `dense_i`, the Activation
    after it (`act_i`, then the model's output layer) and the cross-entropy. With `layers` (names of layers
    with one output, each called once in the model): those layers, no activations, and `loss` (default the
    cross-entropy)."""
    names = [layer.name for layer in model.layers]
    if layers is None:
        layers = dense_layer_names(model)
        output_layer = next(layer.name for layer in model.layers if layer.output is model.outputs[0])
        activations = [f"act_{i}" for i in range(1, len(layers))] + [output_layer]
    else:
        layers, activations = list(layers), []
    unknown = [name for name in (*layers, *activations) if name not in names]
    if unknown or not layers:
        raise ValueError(f"probe layers {unknown or layers} are not layers of model '{model.name}'")
    weighted = [name for name in layers if _has_kernel_and_bias(model.get_layer(name))]
    return ProbeSpec(layers, activations, weighted, loss or categorical_crossentropy)


def _has_kernel_and_bias(layer) -> bool:
    return getattr(layer, "kernel", None) is not None and getattr(layer, "bias", None) is not None
