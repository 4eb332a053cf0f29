"""Adds the test-set loss and accuracy to each epoch's logs (`test_loss`, `test_acc`).

The paper's Fig. 11 plots *test* error during training; Keras validates on one set only.
Placed before the history writers in the callback list, so they record these keys too.
"""

import keras


class EpochTestEvaluation(keras.callbacks.Callback):
    def __init__(self, x, y, batch_size: int):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def on_epoch_end(self, epoch, logs=None):
        scores = self.model.evaluate(self.x, self.y, batch_size=self.batch_size, verbose=0, return_dict=True)
        if logs is not None:
            logs.update({f"test_{name}": value for name, value in scores.items()})
