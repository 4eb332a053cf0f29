"""TensorFlow implementation of lib.backend.hessian_vector: a ForwardAccumulator over a GradientTape
(forward over reverse) in one tf.function."""

import numpy as np
import tensorflow as tf

from lib.backend.flat_parameters import FlatParameters, weighted_mean


class TensorFlowHessianVectorProduct:
    def __init__(self, model, loss, batches):
        self.parameters = FlatParameters(model)
        self._batches = list(batches)
        variables = model.trainable_variables

        @tf.function
        def product(tangents, x, y):
            with tf.autodiff.ForwardAccumulator([v.value for v in variables], tangents) as accumulator:
                with tf.GradientTape() as tape:
                    value = loss(y, model(x, training=False))
                grads = tape.gradient(value, [v.value for v in variables])
            return accumulator.jvp(grads)

        self._product = product

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        tangents = self.parameters.split(vector)
        products = [self.parameters.join([t.numpy() for t in self._product(tangents, x, y)]) for x, y in self._batches]
        return weighted_mean(products, [len(x) for x, _ in self._batches])
