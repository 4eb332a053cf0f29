"""Hessian-vector products of a model's loss with respect to its trainable weights.

Backend-specific (DESIGN.md, principle 6): `HessianVectorProduct(model, loss, batches)` returns the
implementation of the running Keras backend, lib.backend.hessian_vector_tensorflow (a
ForwardAccumulator over a GradientTape) or lib.backend.hessian_vector_jax (`jax.jvp` of
`jax.grad` over `stateless_call`): both forward-over-reverse, one pass costing about two
gradients. The model runs in inference mode (BatchNorm on its moving statistics, dropout off).

`loss(y_true, y_pred)` is the mean loss of a batch, as the study trains with it. Over several
batches the product is the batch-size-weighted mean, H v = sum_b |b| H_b v / N (PyHessian's
dataloader mode). Vectors are flat float64 NumPy arrays over the trainable weights in
`model.trainable_variables` order (`parameter_shapes`), so the spectral algorithms
(lib.hessian) are backend-neutral.
"""

import numpy as np


class FlatParameters:
    """The trainable weights of a model as one flat vector (float64 on the host)."""

    def __init__(self, model):
        self.names = [variable.path for variable in model.trainable_variables]
        self.shapes = [tuple(variable.shape) for variable in model.trainable_variables]
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.size = int(sum(self.sizes))

    def split(self, vector: np.ndarray, dtype="float32") -> list[np.ndarray]:
        parts = np.split(np.asarray(vector), np.cumsum(self.sizes)[:-1])
        return [part.reshape(shape).astype(dtype) for part, shape in zip(parts, self.shapes, strict=True)]

    def join(self, arrays) -> np.ndarray:
        return np.concatenate([np.asarray(array, dtype=np.float64).reshape(-1) for array in arrays])

    def slices(self) -> dict[str, slice]:
        """Each weight's slice of the flat vector (the per-layer blocks)."""
        ends = np.cumsum(self.sizes)
        return {name: slice(int(end - size), int(end)) for name, size, end in zip(self.names, self.sizes, ends, strict=True)}


def HessianVectorProduct(model, loss, batches):  # noqa: N802 (a factory standing in for the backend's class)
    """`hvp(vector) -> H vector` (flat float64) for the running backend; `.parameters` is its FlatParameters."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        from lib.backend.hessian_vector_tensorflow import TensorFlowHessianVectorProduct

        return TensorFlowHessianVectorProduct(model, loss, batches)
    if backend == "jax":
        from lib.backend.hessian_vector_jax import JaxHessianVectorProduct

        return JaxHessianVectorProduct(model, loss, batches)
    raise NotImplementedError(f"Hessian-vector products are implemented for tensorflow and jax, not {backend}")


def weighted_mean(products: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """sum_b |b| H_b v / N over the batches."""
    return sum(size * product for size, product in zip(sizes, products, strict=True)) / float(sum(sizes))
