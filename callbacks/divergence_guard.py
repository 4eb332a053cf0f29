"""Stops training instead of letting it run on NaNs for hours; the runner marks the run diverged.

`DivergenceGuard` checks the epoch's loss and the weights at every epoch's end.
`UpdateDivergenceGuard` also reads back the loss of every update and stops after the first
that is NaN or infinite. That read-back makes Keras dispatch every update's logs to the
callbacks: a fixed ~0.05 ms, about 1% of a batch-10 MLP update (bench/checkpoint_cost.py)
and nothing next to a convolutional network's update, so studies with fast updates use the
per-epoch guard.
"""

import math

import keras


class DivergenceGuard(keras.callbacks.Callback):
    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.epoch = 0
        self.reason: str | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if self.reason is None and not math.isfinite(loss):
            self._stop(f"loss is {loss} in epoch {epoch + 1}")
        # Reduced where the weights live: only one boolean per variable comes back to the host.
        if self.reason is None and not all(bool(keras.ops.all(keras.ops.isfinite(w.value))) for w in self.model.weights):
            self._stop(f"weights are not finite after epoch {epoch + 1}")

    def _stop(self, reason: str) -> None:
        self.reason = reason
        self.model.stop_training = True


class UpdateDivergenceGuard(DivergenceGuard):
    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if self.reason is None and not math.isfinite(loss):
            self._stop(f"loss is {loss} at update {self.epoch * self.steps_per_epoch + batch + 1} (epoch {self.epoch + 1})")
