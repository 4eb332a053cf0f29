"""Keras weight files of a run (`model.load_weights` reads them): the latest epoch's, after every epoch.

save_weights is how every initlab callback writes one: whole or not at all (a temporary name, then a
rename), a full disk as one line (lib.storage.atomic.library_file: Keras' HDF5 writer, cut short, would
crash the process at exit), and on process 0 of a run over several hosts alone (Keras' saving creates a
variable the first time, which under a distribution over several processes only all of them together may
do: lib.distribution.local_copies.this_process_only).
"""

import os

import keras

from lib.distribution.local_copies import this_process_only
from lib.storage import atomic

BYTES_PER_VALUE = 8  # float64 at most: room enough for any weight dtype
FILE_OVERHEAD = 1 << 20  # HDF5's headers and Keras' layer groups


def save_weights(model: keras.Model, path: str) -> None:
    """`model.save_weights(path)` (a `.weights.h5` path), atomically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    size = BYTES_PER_VALUE * model.count_params() + FILE_OVERHEAD
    with atomic.library_file(path, size=size) as temporary, this_process_only():
        model.save_weights(temporary)


class LatestWeights(keras.callbacks.Callback):
    """`path` holds the weights after the latest epoch (the ConstNet code's last checkpoint)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        save_weights(self.model, self.path)
