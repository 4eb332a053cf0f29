"""Writes the run checkpoint (lib.runs.checkpoint) at the end of every completed epoch.

Placed last in the callback list, so that when the checkpoint of epoch N exists, every file
of the run already holds epoch N. An epoch cut short by divergence (`skip()` true) gets none.
"""

from typing import Callable

import keras

from lib.runs.checkpoint import save_checkpoint


class EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, run_path: str, skip: Callable[[], bool] = lambda: False):
        super().__init__()
        self.run_path = run_path
        self.skip = skip
        self.last_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        if self.skip():
            return
        save_checkpoint(self.run_path, self.model, epoch + 1)
        self.last_epoch = epoch + 1
