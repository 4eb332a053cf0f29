"""The trainable weights of a model as one flat float64 vector, the vectors of lib.backend.hessian_vector
and of the spectral algorithms (lib.hessian), shared by its TensorFlow and JAX implementations."""

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


def weighted_mean(products: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """sum_b |b| H_b v / N over the batches."""
    return sum(size * product for size, product in zip(sizes, products, strict=True)) / float(sum(sizes))
