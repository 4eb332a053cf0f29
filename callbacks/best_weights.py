"""Keeps the weights of the epoch with the best validation accuracy, for studies whose test score is
that model's (the weight-norm code evaluates its best-validation checkpoint on test at the end).

Written by callbacks.weight_files.save_weights, so the file always holds one whole epoch's weights. An epoch
cut short by divergence (`skip()` true) is never kept: its validation score was measured on weights
that are no longer finite. A resumed run passes the best score of its earlier epochs as `best`.
"""

import math
from typing import Callable

import keras

from callbacks.weight_files import save_weights

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
        save_weights(self.model, self.path)
        self.best, self.best_epoch = score, epoch + 1
