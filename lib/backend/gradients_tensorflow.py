"""TensorFlow implementation of lib.backend.gradients: one GradientTape over a multi-output probe model
that shares the trained model's layers (so it also works under MirroredStrategy)."""

import numpy as np

from lib.backend.probe_record import ProbeRecord, probe_spec


class TensorFlowFeedforwardProbe:
    """Builds the probe model once; `capture(x, y)` runs the single pass on the current weights."""

    def __init__(self, model, layers=None, *, loss=None):
        import keras
        import tensorflow as tf

        spec = probe_spec(model, layers, loss=loss)
        self.layers, self._loss = spec.layers, spec.loss
        self._weighted = [model.get_layer(name) for name in spec.weighted]
        probed = [model.get_layer(name).output for name in spec.layers]
        activations = [model.get_layer(name).output for name in spec.activations]
        self._counts = (len(probed), len(activations))
        self._probe = keras.Model(model.inputs, probed + activations + [model.output])
        self._capture = tf.function(self._pass, reduce_retracing=True)

    def _pass(self, x, y):
        import tensorflow as tf

        count, read = self._counts
        with tf.GradientTape() as tape:
            outputs = self._probe(x, training=False)
            probed, activations = outputs[:count], outputs[count:count + read]
            mean_loss = tf.reduce_mean(self._loss(y, outputs[-1]))
        weighted = len(self._weighted)
        variables = [layer.kernel for layer in self._weighted] + [layer.bias for layer in self._weighted]
        gradients = tape.gradient(mean_loss, variables + list(probed))
        examples = tf.cast(tf.shape(x)[0], mean_loss.dtype)
        backprop = [g * examples for g in gradients[2 * weighted:]]
        return probed, activations, backprop, gradients[:weighted], gradients[weighted:2 * weighted]

    def capture(self, x: np.ndarray, y: np.ndarray) -> ProbeRecord:
        s, z, backprop, kernel_grads, bias_grads = self._capture(x, y)

        def named(names, tensors):
            return {name: np.asarray(t) for name, t in zip(names, tensors)}

        weighted = [layer.name for layer in self._weighted]
        return ProbeRecord(self.layers, named(self.layers, s), named(self.layers, z), named(self.layers, backprop),
                           named(weighted, kernel_grads), named(weighted, bias_grads),
                           {layer.name: np.asarray(layer.kernel) for layer in self._weighted},
                           {layer.name: np.asarray(layer.bias) for layer in self._weighted})
