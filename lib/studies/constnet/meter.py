"""One row of a ConstNet run's correlations.h5: weight correlations of every conv / dense layer
and feature correlations of every block's output on a fixed probe batch.

Weight layers are measured in the original's order (reference/constnet.md §3): conv1, the
classifier, the block convolutions, then the 1x1 shortcuts. The feature measure is initlab's
addition: the mean correlation between the channels of each block's output on the probe
images, i.e. feature diversity measured on the features themselves. Everything is reduced
where the tensors live (correlations.py); only scalars come back to the host. On several hosts the
weights are this process's copy (lib.distribution.local_copies): the one-host values.
"""

import keras
import numpy as np

from lib.distribution.local_copies import call_locally, local_copy
from lib.studies.constnet import correlations

BLOCK_OUTPUT_SUFFIX = "_out"
PROBE_BATCH = 128


def weight_layer_order(layer) -> int:
    if layer.name == "conv1":
        return 0
    if isinstance(layer, keras.layers.Dense):
        return 1
    return 3 if layer.name.endswith("_shortcut") else 2


class CorrelationMeter:
    def __init__(self, model: keras.Model, probe_x: np.ndarray, *, max_rows: int = correlations.MAX_ROWS, seed: int = 0):
        convs_and_dense = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
        self.weight_layers = sorted(convs_and_dense, key=weight_layer_order)  # stable: model order within a kind
        self.block_names = [layer.name for layer in model.layers if layer.name.endswith(BLOCK_OUTPUT_SUFFIX)]
        self.features = keras.Model(model.input, [model.get_layer(name).output for name in self.block_names])
        self.probe_x = probe_x
        self.max_rows, self.seed = max_rows, seed

    def measure(self, epoch: int) -> dict[str, float]:
        """{"epoch", "diversity", "forward/<layer>", "backward/<layer>", "kernels/<layer>", "activations/<block>"}."""
        rng = np.random.default_rng([self.seed, epoch])  # the row subset of each epoch, reproducibly
        row = {"epoch": float(epoch)}
        for layer in self.weight_layers:
            for measure in correlations.WEIGHT_MEASURES:
                rows = correlations.weight_rows(local_copy(layer.kernel.value), measure)
                row[f"{measure}/{layer.name}"] = correlations.mean_pair_correlation(
                    rows, max_rows=self.max_rows, rng=rng)
        row["diversity"] = correlations.diversity(row[f"backward/{layer.name}"] for layer in self.weight_layers)
        for name, rho in zip(self.block_names, self.feature_correlations()):
            row[f"activations/{name}"] = rho
        return row

    def feature_correlations(self) -> list[float]:
        """Mean channel correlation of each block's output, over all probe images and positions."""
        outputs = [call_locally(self.features, self.probe_x[i:i + PROBE_BATCH])
                   for i in range(0, len(self.probe_x), PROBE_BATCH)]
        outputs = [list(batch) if isinstance(batch, (list, tuple)) else [batch] for batch in outputs]
        return [correlations.mean_pair_correlation(correlations.channel_rows(
                    keras.ops.concatenate([batch[block] for batch in outputs])))
                for block in range(len(self.block_names))]
