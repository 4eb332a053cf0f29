"""Hands each epoch's Keras logs to a writer as soon as the epoch ends (not at train end)."""

import keras


class EpochHistory(keras.callbacks.Callback):
    def __init__(self, history_files):
        super().__init__()
        self.history_files = history_files

    def on_epoch_end(self, epoch, logs=None):
        # Keras counts epochs from 0; files count completed epochs from 1.
        self.history_files.append(epoch + 1, logs or {})

    def on_train_end(self, logs=None):
        self.history_files.close()
