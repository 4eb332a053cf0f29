"""JAX implementation of lib.backend.hessian_vector: `jax.jvp` of `jax.grad` (forward over reverse), jitted once."""

import jax
import numpy as np

from lib.backend.hessian_vector import FlatParameters, weighted_mean


class JaxHessianVectorProduct:
    def __init__(self, model, loss, batches):
        self.parameters = FlatParameters(model)
        self._weights = [variable.value for variable in model.trainable_variables]
        self._frozen = [variable.value for variable in model.non_trainable_variables]
        self._batches = list(batches)

        def batch_loss(weights, x, y):
            y_pred, _ = model.stateless_call(weights, self._frozen, x, training=False)
            return loss(y, y_pred)

        def product(weights, tangents, x, y):
            return jax.jvp(lambda w: jax.grad(batch_loss)(w, x, y), (weights,), (tangents,))[1]

        self._product = jax.jit(product)

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        tangents = self.parameters.split(vector)
        products = [self.parameters.join(self._product(self._weights, tangents, x, y)) for x, y in self._batches]
        return weighted_mean(products, [len(x) for x, _ in self._batches])
