"""The diversity study's validation network (reference/diversity.md §2.1-2.2): D -> H -> classes.

`dense_1` (Dense(H), PyTorch's default init) -> `learned_activation` (each hidden neuron j applies
learned function `assignment[j]`, a piecewise-linear interpolant of its values on a grid) -> `logits`
(Dense(classes), PyTorch's default init). The network outputs logits: train it with a
cross-entropy `from_logits=True`, as PyTorch's CrossEntropyLoss. No noise, as the original's
validation network.
"""

import keras
import numpy as np
from keras import ops

from lib import initializers
from models import MODELS

DEFAULT_GRID_POINTS = 100  # the original's Trainer samples its functions on linspace(-5, 5, 100)


@keras.saving.register_keras_serializable(package="initlab")
class PiecewiseLinearActivation(keras.layers.Layer):
    """Neuron j of the last axis outputs f_{assignment[j]}(x_j), f_i the piecewise-linear interpolant of
    values[i] on the increasing grid; outside [grid[0], grid[-1]] it continues the first or last
    segment (linear extrapolation), as the original's torchinterp1d: segment = searchsorted(grid, x) - 1,
    clamped to [0, K - 2] (§2.1).

    The grid, values (n, K) and assignment (H,) are constants of the layer (its config, not weights:
    nothing here trains, and the original keeps its table out of the state_dict). Each neuron reads
    its own function by a gather, not by the original's masked sum over all n functions, so a
    neuron of block g outputs f_g(x_j) alone, without the original's constant offset
    sum_{i != g} f_i(0) (which the next layer's bias could absorb). Slopes are exact difference
    quotients (the original adds float eps to the denominator: a relative change of ~1e-6).
    """

    def __init__(self, grid, values, assignment, **kwargs):
        super().__init__(**kwargs)
        self.grid = np.asarray(grid, dtype=np.float64).reshape(-1)
        self.values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        self.assignment = np.asarray(assignment, dtype=np.int64).reshape(-1)
        n, points = self.values.shape
        if points != len(self.grid) or points < 2 or not np.all(np.diff(self.grid) > 0):
            raise ValueError(f"need an increasing grid of K >= 2 points and values (n, K); got {self.grid.shape} "
                             f"and {self.values.shape}")
        if len(self.assignment) == 0 or self.assignment.min() < 0 or self.assignment.max() >= n:
            raise ValueError(f"assignment must index the {n} functions; got {self.assignment.tolist()}")
        rows = self.values[self.assignment]  # (H, K): neuron j's function
        # Tables of the H * (K - 1) segments, neuron-major: segment s of neuron j is entry j (K - 1) + s.
        self._left_values = rows[:, :-1].reshape(-1)
        self._slopes = (np.diff(rows, axis=1) / np.diff(self.grid)).reshape(-1)
        self._offsets = (np.arange(len(self.assignment)) * (points - 1)).astype(np.int32)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != len(self.assignment):
            raise ValueError(f"{len(self.assignment)} neurons assigned, but the input has {input_shape[-1]} features")

    def call(self, inputs):
        dtype = inputs.dtype
        grid = ops.convert_to_tensor(self.grid, dtype=dtype)
        segment = ops.searchsorted(grid, ops.reshape(inputs, (-1,)), side="left") - 1  # 1-D: TF needs it so
        segment = ops.reshape(ops.clip(ops.cast(segment, "int32"), 0, len(self.grid) - 2), ops.shape(inputs))
        entry = segment + ops.convert_to_tensor(self._offsets)
        left_x = ops.take(grid, segment)
        left_y = ops.take(ops.convert_to_tensor(self._left_values, dtype=dtype), entry)
        slope = ops.take(ops.convert_to_tensor(self._slopes, dtype=dtype), entry)
        return left_y + slope * (inputs - left_x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "grid": self.grid.tolist(), "values": self.values.tolist(),
                "assignment": self.assignment.tolist()}


def _dense(units: int, fan_in: int, seed: int, index: int, name: str) -> keras.layers.Dense:
    """Dense with PyTorch's nn.Linear init; kernel and bias draw from different seeds of layer `index`."""
    kernel = initializers.make("torch_linear_kernel", seed, 2 * index)
    bias = initializers.INITIALIZERS.build("torch_linear_bias", seed=initializers.layer_seed(seed, 2 * index + 1),
                                           fan_in=fan_in)
    return keras.layers.Dense(units, kernel_initializer=kernel, bias_initializer=bias, name=name)


@MODELS.register("learned_activation_mlp", tiny={"hidden": 8})
def learned_activation_mlp(input_shape, num_classes: int, *, seed: int = 0, hidden: int = 200, grid=None,
                           values=None, assignment=None) -> keras.Model:
    """DiversityNN's validation FCN: Dense(hidden) -> learned piecewise-linear activations -> Dense(classes) logits.

    grid (K,) and values (n, K): the learned functions (default: sin on linspace(-5, 5, 100), the
    study's default base un-learned); assignment (hidden,): the function of each hidden neuron
    (default: function 0 for all; required when n > 1). Images are flattened first.
    """
    grid = np.linspace(-5.0, 5.0, DEFAULT_GRID_POINTS) if grid is None else np.asarray(grid, dtype=np.float64)
    values = np.sin(grid)[None] if values is None else np.atleast_2d(np.asarray(values, dtype=np.float64))
    if assignment is None:
        if len(values) > 1:
            raise ValueError(f"{len(values)} learned functions: pass the assignment of the {hidden} hidden neurons")
        assignment = np.zeros(hidden, dtype=np.int64)
    inputs = keras.Input(tuple(input_shape), name="input")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    features = int(np.prod(input_shape))
    x = _dense(hidden, features, seed, 1, "dense_1")(x)
    x = PiecewiseLinearActivation(grid, values, assignment, name="learned_activation")(x)
    outputs = _dense(num_classes, hidden, seed, 2, "logits")(x)
    return keras.Model(inputs, outputs, name="learned_activation_mlp")
