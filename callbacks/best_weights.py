"""Keeps the weights of the epoch with the best validation accuracy, for studies whose test score is
that model's (the weight-norm code evaluates its best-validation checkpoint on test at the end).

Written to a temporary name and renamed, so the file always holds one whole epoch's weights. An epoch
cut short by divergence (`skip()` true) is never kept: its validation score was measured on weights
that are no longer finite. A resumed run passes the best score of its earlier epochs as `best`.
"""

import math
import os
from typing import Callable

import keras

MONITOR = "val_acc"


class BestValidationWeights(keras.callbacks.Callback):
    def __init__(self, path: str, *, best: float = -math.inf, best_epoch: int | None = None,
                 skip: Callable[[], bool] = lambda: False):
        super().__init__()
        self.path, self.skip = path, skip
        self.best, self.best_epoch = best, best_epoch

    def on_epoch_end(self, epoch, logs=None):
        score = float((logs or {}).get(MONITOR, math.nan))
        if self.skip() or not score > self.best:  # the first best epoch wins ties, as ModelCheckpoint's
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        temporary = self.path.replace(".weights.h5", ".partial.weights.h5")  # Keras wants the .weights.h5 suffix
        self.model.save_weights(temporary)
        os.replace(temporary, self.path)
        self.best, self.best_epoch = score, epoch + 1
