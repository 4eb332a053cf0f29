"""Keras' ModelCheckpoint (weight files after every epoch), fit for process 0 of a run over several hosts,
which saves alone: Keras' saving creates a variable the first time, which under a distribution over
several processes only all of them together may do (lib.distribution.local_copies.this_process_only).
Saves at epoch ends only (save_freq="epoch"), the one hook it wraps."""

import keras

from lib.distribution.local_copies import this_process_only


class ModelCheckpoint(keras.callbacks.ModelCheckpoint):
    def on_epoch_end(self, epoch, logs=None):
        with this_process_only():
            super().on_epoch_end(epoch, logs)
