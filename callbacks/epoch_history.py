"""Hands each epoch's Keras logs to writers as soon as the epoch ends (not at train end).

A writer has `append(epoch, logs)` and `close()`; epochs are counted from 1 (after N epochs).
Only the epoch-end hook is implemented, so Keras adds no work to the training steps.
"""

import keras


class EpochHistory(keras.callbacks.Callback):
    def __init__(self, *writers):
        super().__init__()
        self.writers = writers

    def on_epoch_end(self, epoch, logs=None):
        for writer in self.writers:
            writer.append(epoch + 1, logs or {})

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
