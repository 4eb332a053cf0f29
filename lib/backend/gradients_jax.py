"""JAX implementation of lib.backend.gradients: `stateless_call` + `jax.grad`, one jitted pass.

JAX has no tape on intermediate tensors, so the probe calls the model's own layers once more, in a
second functional model whose inputs are the model's plus one zero "tap" per probed layer, added to
that layer's output (reference/keras_stack.md §2). The gradient of the mean loss L with respect to
the tap is dL/d(output), which is exactly what a GradientTape watching the output gives on
TensorFlow. Weight gradients come from the same `jax.grad` call.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np

from lib.backend.probe_record import ProbeRecord, probe_spec
from lib.distribution.local_copies import local_copy


def tapped_model(model, spec) -> keras.Model:
    """The functional graph of `model` rebuilt from its own layers (shared weights), taking
    [inputs..., one tap per probed layer] and returning [probed outputs + taps..., activations..., output].

    Each layer is called on what its first call received (`layer.input`), in the order of `model.layers`,
    which Keras keeps topological; so the model's layers must each be called once in it.
    """
    inputs = [keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=f"probe_input_{i}")
              for i, tensor in enumerate(model.inputs)]
    rebuilt = {id(old): new for old, new in zip(model.inputs, inputs)}
    taps, probed = [], {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        output = layer(keras.tree.map_structure(lambda tensor: rebuilt[id(tensor)], layer.input))
        if layer.name in spec.layers:
            taps.append(keras.Input(batch_shape=output.shape, dtype=output.dtype, name=f"{layer.name}_tap"))
            output = keras.layers.Add(dtype=output.dtype, name=f"{layer.name}_tapped")([output, taps[-1]])
            probed[layer.name] = output
        rebuilt[id(layer.output)] = output
    outputs = [probed[name] for name in spec.layers] + [rebuilt[id(model.get_layer(name).output)]
                                                         for name in spec.activations]
    return keras.Model([*inputs, *taps], [*outputs, rebuilt[id(model.outputs[0])]], name=f"{model.name}_probe")


class JaxFeedforwardProbe:
    def __init__(self, model, layers=None, *, loss=None):
        spec = probe_spec(model, layers, loss=loss)
        self.layers, self._loss = spec.layers, spec.loss
        self._counts = (len(spec.layers), len(spec.activations))
        self._weighted = [model.get_layer(name) for name in spec.weighted]
        self._model = tapped_model(model, spec)
        # Differentiate with respect to the probed layers' kernels and biases (by position among the
        # probe model's trainable variables) and the taps; the other variables are held fixed.
        positions = {id(variable): index for index, variable in enumerate(self._model.trainable_variables)}
        self._selected = [positions[id(variable)] for layer in self._weighted for variable in (layer.kernel, layer.bias)]
        self._tap_shapes = [(tuple(tap.shape[1:]), tap.dtype) for tap in self._model.inputs[len(model.inputs):]]
        self._capture = jax.jit(self._pass)

    def _pass(self, trainable, non_trainable, x, y):
        taps = [jnp.zeros((x.shape[0], *shape), dtype) for shape, dtype in self._tap_shapes]

        def mean_loss(selected, taps):
            values = list(trainable)
            for position, value in zip(self._selected, selected):
                values[position] = value
            outputs, _ = self._model.stateless_call(values, non_trainable, [x, *taps], training=False)
            loss = jnp.mean(self._loss(y, outputs[-1]))
            count, read = self._counts
            return loss, (outputs[:count], outputs[count:count + read])

        selected = [trainable[position] for position in self._selected]
        (_, (s, z)), (weight_grads, tap_grads) = jax.value_and_grad(mean_loss, argnums=(0, 1), has_aux=True)(selected, taps)
        backprop = [g * x.shape[0] for g in tap_grads]  # dC_n/ds_n = N * dL/ds_n (module docstring of lib.backend.gradients)
        return s, z, backprop, weight_grads[0::2], weight_grads[1::2]

    def capture(self, x: np.ndarray, y: np.ndarray) -> ProbeRecord:
        # This process's copy of the weights: on several hosts they span every process (lib.distribution.local_copies).
        trainable = [local_copy(variable.value) for variable in self._model.trainable_variables]
        non_trainable = [local_copy(variable.value) for variable in self._model.non_trainable_variables]
        s, z, backprop, kernel_grads, bias_grads = self._capture(trainable, non_trainable, jnp.asarray(x), jnp.asarray(y))

        def named(names, arrays):
            return {name: np.asarray(array) for name, array in zip(names, arrays)}

        weighted = [layer.name for layer in self._weighted]
        return ProbeRecord(self.layers, named(self.layers, s), named(self.layers, z), named(self.layers, backprop),
                           named(weighted, kernel_grads), named(weighted, bias_grads),
                           {layer.name: np.asarray(local_copy(layer.kernel.value)) for layer in self._weighted},
                           {layer.name: np.asarray(local_copy(layer.bias.value)) for layer in self._weighted})
