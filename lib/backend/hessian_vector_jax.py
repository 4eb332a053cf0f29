"""JAX implementation of lib.backend.hessian_vector: `jax.jvp` of `jax.grad` (forward over reverse), jitted once."""

import jax
import numpy as np

from lib.backend.flat_parameters import FlatParameters, weighted_mean


class JaxHessianVectorProduct:
    def __init__(self, model, loss, batches):
        self.parameters = FlatParameters(model)
        self._model = model
        self._batches = list(batches)

        def batch_loss(weights, frozen, x, y):
            y_pred, _ = model.stateless_call(weights, frozen, x, training=False)
            return loss(y, y_pred)

        def product(weights, frozen, tangents, x, y):
            return jax.jvp(lambda w: jax.grad(batch_loss)(w, frozen, x, y), (weights,), (tangents,))[1]

        self._product = jax.jit(product)

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        # the variables' values now, so that one product object follows a model in training
        weights = [variable.value for variable in self._model.trainable_variables]
        frozen = [variable.value for variable in self._model.non_trainable_variables]
        tangents = self.parameters.split(vector)
        products = [self.parameters.join(self._product(weights, frozen, tangents, x, y)) for x, y in self._batches]
        return weighted_mean(products, [len(x) for x, _ in self._batches])
