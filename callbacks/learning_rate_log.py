"""Adds the epoch's learning rate to the epoch logs as `lr` (the weight-norm code's log.csv column), so the
run history records it. The rate is that of the epoch's last update, read from the optimizer's
schedule at its counter value rather than from the optimizer (whose counter has already moved on)."""

import keras


class EpochLearningRate(keras.callbacks.Callback):
    def __init__(self, schedule, steps_per_epoch: int):
        super().__init__()
        self.schedule, self.steps_per_epoch = schedule, steps_per_epoch

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            last_update = (epoch + 1) * self.steps_per_epoch - 1
            logs["lr"] = float(keras.ops.convert_to_numpy(self.schedule(last_update)))
