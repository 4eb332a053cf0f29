"""Turns a dataset's training split into what `model.fit` consumes.

Streams (Shapeset) become an infinite `keras.utils.PyDataset` whose batch i is a pure
function of i: batch i holds stream positions start + i*batch .. start + (i+1)*batch. Keras
keeps one iterator across epochs for infinite datasets, so `steps_per_epoch` slices the
stream into epochs and a run resumed at batch k continues exactly where it stopped.
Arrays are cycled as a stream too, reshuffled on each pass by a seeded permutation.
Augmentation draws from a generator seeded by (run seed, batch index).

On several hosts (lib.distribution.hosts) every process makes the same global batch i and feeds its
own equal slice of it, so the job trains on exactly the one-host batches.
"""

from typing import Callable

import keras
import numpy as np

from lib.datasets.splits import Split, StreamSplit
from lib.distribution.hosts import data_part
from lib.errors import UsageError

AUGMENT_STREAM = 1  # distinguishes the augmentation generators from other seeded streams


class StreamBatches(keras.utils.PyDataset):
    """part=(p, n): the p-th of n equal slices of every (global) batch of `batch_size`."""

    def __init__(self, split: StreamSplit, *, batch_size: int, num_classes: int, flat: bool, first_batch: int = 0,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None, seed: int = 0,
                 part: tuple[int, int] = (0, 1)):
        super().__init__()
        self.split = split
        self.augment, self.seed = augment, seed
        self.batch_size = batch_size
        self.first_batch = first_batch
        self._eye = np.eye(num_classes, dtype=np.float32)
        index, count = part
        if batch_size % count:
            raise UsageError(f"the batch size {batch_size} must be a multiple of the {count} hosts: each feeds an "
                             "equal slice of every batch")
        local = batch_size // count
        self._rows = slice(index * local, (index + 1) * local)
        self._shape = (local, -1) if flat else (local, *split.example_shape)

    @property
    def num_batches(self):
        return None  # infinite

    def __getitem__(self, index):
        position = self.split.start + (self.first_batch + index) * self.batch_size
        x, labels = self.split.stream.examples(position, self.batch_size)
        if self.augment is not None:
            x = self.augment(x, np.random.default_rng([self.seed, AUGMENT_STREAM, self.first_batch + index]))
        return x[self._rows].reshape(self._shape), self._eye[labels[self._rows]]


class ArrayStream:
    """Cycles over arrays as an infinite stream, reshuffled on each pass with a seeded permutation."""

    def __init__(self, split: Split, seed: int):
        self.split = split
        self.seed = seed
        self._labels = np.argmax(split.y, axis=1)
        self._cached_pass, self._cached_order = None, None

    def _order(self, pass_index: int) -> np.ndarray:
        if pass_index != self._cached_pass:  # batches are read in order: one permutation per pass
            self._cached_order = np.random.default_rng([self.seed, pass_index]).permutation(len(self.split))
            self._cached_pass = pass_index
        return self._cached_order

    def examples(self, start: int, count: int):
        passes, offsets = np.divmod(np.arange(start, start + count), len(self.split))
        indices = np.empty(count, dtype=np.int64)
        for pass_index in np.unique(passes):
            here = passes == pass_index
            indices[here] = self._order(int(pass_index))[offsets[here]]
        return self.split.x[indices], self._labels[indices]


def fit_inputs(train: Split | StreamSplit, *, batch_size: int, steps_per_epoch: int, num_classes: int,
               flat: bool, seed: int, augment=None) -> dict:
    """Keyword arguments for `model.fit` (x, steps_per_epoch, shuffle).

    Arrays are streamed too (reshuffled with a seeded permutation on every pass), so that
    batch i is the same whenever it is made and a resumed run continues where it stopped.
    `batch_size` is the global batch: on several hosts this process feeds its part of it.
    """
    if isinstance(train, Split):
        train = StreamSplit(ArrayStream(train, seed), 0, train.x.shape[1:])
    batches = StreamBatches(train, batch_size=batch_size, num_classes=num_classes, flat=flat, augment=augment, seed=seed,
                            part=data_part())
    return dict(x=batches, steps_per_epoch=steps_per_epoch, shuffle=False)
