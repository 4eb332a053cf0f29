"""Writes the run checkpoint (lib.checkpoint) at the end of every completed epoch.

Placed last in the callback list, so that when the checkpoint of epoch N exists, every file
of the run already holds epoch N. An epoch cut short (divergence) gets no checkpoint.
"""

import keras

from lib.checkpoint import save_checkpoint


class EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, run_path: str):
        super().__init__()
        self.run_path = run_path
        self.last_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return
        save_checkpoint(self.run_path, self.model, epoch + 1)
        self.last_epoch = epoch + 1
