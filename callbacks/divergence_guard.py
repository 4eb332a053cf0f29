"""Stops training at the first update whose loss is NaN or infinite (or, at an epoch's end,
whose weights are), instead of training on NaNs for hours; the runner marks the run diverged.

The loss of each update is already computed; reading it back costs one scalar copy per update
(measured in bench/checkpoint_cost.py). Weights are checked once per epoch.
"""

import math

import keras
import numpy as np


class DivergenceGuard(keras.callbacks.Callback):
    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.epoch = 0
        self.reason: str | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self._stop(f"loss is {loss} at update {self.epoch * self.steps_per_epoch + batch + 1} (epoch {self.epoch + 1})")

    def on_epoch_end(self, epoch, logs=None):
        if self.reason is None and not all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in self.model.weights):
            self._stop(f"weights are not finite after epoch {epoch + 1}")

    def _stop(self, reason: str) -> None:
        self.reason = reason
        self.model.stop_training = True
