"""Activations and gradients of a feedforward model on a probe batch, in one forward/backward pass.

Backend-specific (DESIGN.md, principle 6): this is the TensorFlow implementation, a
GradientTape over a multi-output probe model that shares the trained model's layers.

For hidden layer i (Dense `dense_i` -> Activation `act_i`), with s = pre-activation,
z = activation, C_n the cross-entropy of example n and L = mean_n C_n over the probe batch:
  preactivations[i]      s_i                       (examples, units)
  activations[i]         z_i (softmax for the output layer)
  backprop[i]            dC_n/ds_i per example     (examples, units)   paper Fig. 7
  weight_gradients[i]    dL/dW_i, dL/db_i          kernel and bias shapes  paper Figs. 8, 9
Since s_i of example n only affects C_n, dC_n/ds_i,n = N * dL/ds_i,n: one tape gives all.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class ProbeRecord:
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


class FeedforwardProbe:
    """Builds the probe model once; `capture(x, y)` runs the single pass on the current weights."""

    def __init__(self, model):
        import keras
        import tensorflow as tf

        self.layers = dense_layer_names(model)
        self._dense = [model.get_layer(name) for name in self.layers]
        activations = [model.get_layer(f"act_{i}").output for i in range(1, len(self.layers))] + [model.output]
        self._probe = keras.Model(model.inputs, [layer.output for layer in self._dense] + activations)
        self._capture = tf.function(self._pass, reduce_retracing=True)

    def _pass(self, x, y):
        import keras
        import tensorflow as tf

        count = len(self.layers)
        with tf.GradientTape() as tape:
            outputs = self._probe(x, training=False)
            preactivations, activations = outputs[:count], outputs[count:]
            mean_loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, activations[-1]))
        variables = [layer.kernel for layer in self._dense] + [layer.bias for layer in self._dense]
        gradients = tape.gradient(mean_loss, variables + list(preactivations))
        examples = tf.cast(tf.shape(x)[0], mean_loss.dtype)
        backprop = [g * examples for g in gradients[2 * count:]]
        return preactivations, activations, backprop, gradients[:count], gradients[count:2 * count]

    def capture(self, x: np.ndarray, y: np.ndarray) -> ProbeRecord:
        s, z, backprop, kernel_grads, bias_grads = self._capture(x, y)

        def named(tensors):
            return {name: np.asarray(t) for name, t in zip(self.layers, tensors)}

        return ProbeRecord(self.layers, named(s), named(z), named(backprop), named(kernel_grads), named(bias_grads),
                           {layer.name: np.asarray(layer.kernel) for layer in self._dense},
                           {layer.name: np.asarray(layer.bias) for layer in self._dense})
