"""TensorFlow implementation of lib.backend.gradients: one GradientTape over a multi-output probe model
that shares the trained model's layers (so it also works under MirroredStrategy)."""

import numpy as np

from lib.backend.probe_record import ProbeRecord, dense_layer_names


class TensorFlowFeedforwardProbe:
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
