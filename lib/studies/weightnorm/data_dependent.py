"""The data-dependent init of `--init he_datadep / orthogonal_datadep` (Salimans & Kingma 2016, eq. 6;
reference/weightnorm_abc.md §A4, "*_datadep").

On the first training batch, before training, layer by layer in the order the network computes them:
set the layer's g = 1 and bias = 0, forward the batch to the layer's pre-activation t, and set
g = 1/σ and bias = −μ/σ per output unit or channel, μ and σ the mean and standard deviation of t over
the batch (and the spatial positions of a conv). The layer's output is then normalized, and every later
layer sees it through the network's own graph: ReLUs, and in residual blocks both paths summed, as
the original propagates them.

σ is the population standard deviation (ddof 0), so each unit's pre-activation has mean 0 and standard
deviation 1 on the batch exactly, up to float32 rounding. The network runs in inference mode (BatchNorm
on its initial moving statistics). Each layer costs one forward pass of the batch up to it.
"""

import keras
import numpy as np

from models.weight_norm import WeightNormConv2D, WeightNormDense

EPSILON = 1e-12  # a unit whose pre-activation is constant on the batch keeps g = 1 instead of dividing by 0


def weight_normalized_layers(model) -> list:
    """The WN layers of a functional model in the order it computes them (Keras keeps model.layers topological)."""
    return [layer for layer in model.layers if isinstance(layer, (WeightNormDense, WeightNormConv2D))]


def data_dependent_init(model, batch: np.ndarray) -> list[dict]:
    """Set every WN layer's g and bias from `batch` (numpy, the model's input shape); returns per layer
    the statistics used ({layer, mean, std}: arrays per unit) for inspection and logging."""
    statistics = []
    for layer in weight_normalized_layers(model):
        layer.g.assign(np.ones(layer.g.shape, dtype="float32"))
        if layer.bias is not None:
            layer.bias.assign(np.zeros(layer.bias.shape, dtype="float32"))
        probe = keras.Model(model.input, layer.output)  # the layer's pre-activation: the WN layers have no activation
        pre_activation = np.asarray(keras.ops.convert_to_numpy(probe(batch, training=False)), dtype=np.float64)
        axes = tuple(range(pre_activation.ndim - 1))  # batch and spatial positions; one statistic per unit
        mean, std = pre_activation.mean(axis=axes), pre_activation.std(axis=axes)
        scale = np.where(std > EPSILON, 1.0 / np.maximum(std, EPSILON), 1.0)
        layer.g.assign(scale.astype("float32"))
        if layer.bias is not None:
            layer.bias.assign((-mean * scale).astype("float32"))
        statistics.append({"layer": layer.name, "mean": mean, "std": std})
    return statistics
