"""JAX implementation of lib.backend.gradients: `stateless_call` + `jax.grad`, one jitted pass.

The network is walked layer by layer with each layer's `stateless_call` on the current weight
values. A zero "tap" is added to every Dense output s_i; the gradient of the mean loss L with
respect to the tap is dL/ds_i, which is exactly what a GradientTape watching s_i gives on
TensorFlow. Weight gradients come from the same `jax.grad` call.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np

from lib.backend.probe_record import ProbeRecord, dense_layer_names


class JaxFeedforwardProbe:
    def __init__(self, model):
        self.layers = dense_layer_names(model)
        self._dense = [model.get_layer(name) for name in self.layers]
        # The feedforward models are a chain: input -> dense_1 -> act_1 -> ... -> softmax.
        self._chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        self._capture = jax.jit(self._pass)

    def _forward(self, weights, taps, x):
        """Pre-activations (with taps) and activations of every Dense layer, in order."""
        preactivations, activations = [], []
        z = x
        dense_index = 0
        for layer in self._chain:
            if layer in self._dense:
                kernel, bias = weights[dense_index]
                z, _ = layer.stateless_call([kernel, bias], [], z)
                z = z + taps[dense_index]
                preactivations.append(z)
                dense_index += 1
            else:
                z, _ = layer.stateless_call([], [], z)
                activations.append(z)
        return preactivations, activations

    def _pass(self, weights, x, y):
        taps = [jnp.zeros((x.shape[0], layer.units), x.dtype) for layer in self._dense]

        def mean_loss(weights, taps):
            preactivations, activations = self._forward(weights, taps, x)
            loss = jnp.mean(keras.losses.categorical_crossentropy(y, activations[-1]))
            return loss, (preactivations, activations)

        (_, (s, z)), (weight_grads, tap_grads) = jax.value_and_grad(mean_loss, argnums=(0, 1), has_aux=True)(weights, taps)
        backprop = [g * x.shape[0] for g in tap_grads]  # dC_n/ds_n = N * dL/ds_n (module docstring of lib.backend.gradients)
        return s, z, backprop, [g[0] for g in weight_grads], [g[1] for g in weight_grads]

    def capture(self, x: np.ndarray, y: np.ndarray) -> ProbeRecord:
        weights = [(layer.kernel.value, layer.bias.value) for layer in self._dense]
        s, z, backprop, kernel_grads, bias_grads = self._capture(weights, jnp.asarray(x), jnp.asarray(y))

        def named(arrays):
            return {name: np.asarray(array) for name, array in zip(self.layers, arrays)}

        return ProbeRecord(self.layers, named(s), named(z), named(backprop), named(kernel_grads), named(bias_grads),
                           {name: np.asarray(w[0]) for name, w in zip(self.layers, weights)},
                           {name: np.asarray(w[1]) for name, w in zip(self.layers, weights)})
