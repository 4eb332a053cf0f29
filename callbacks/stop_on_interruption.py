"""Ends training at the end of an epoch that a signal cut short (lib.runs.interruption), before any
writer records that partial epoch: first in the callback list."""

import keras


class StopOnInterruption(keras.callbacks.Callback):
    def __init__(self, interruption):
        super().__init__()
        self.interruption = interruption

    def on_epoch_end(self, epoch, logs=None):
        if self.interruption.requested:
            raise self.interruption.error()
