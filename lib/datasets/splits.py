"""What every dataset loader returns: train / validation / test splits, data only.

Batch sizes, epochs and epoch lengths are a study's choices (e.g. lib/studies/glorot/config.py),
so they live with the study; a loader says only whether its training data is a stream (StreamSplit).
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

VALIDATION_SPLIT_STREAM = 2  # seeds a validation split apart from the batch order (stream 0) and augmentation (1)


@dataclass(frozen=True)
class Split:
    """Examples in their natural shape (N, H, W, C) or (N, features), labels one-hot float32."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def head(self, count: int) -> "Split":
        return Split(self.x[:count], self.y[:count])

    def flat(self) -> "Split":
        return Split(self.x.reshape(len(self.x), -1), self.y)


class ExampleStream(Protocol):
    """An infinite, deterministic stream: the example at a position never changes."""

    def examples(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class StreamSplit:
    """Training data drawn online from `stream`, starting at position `start`."""

    stream: ExampleStream
    start: int
    example_shape: tuple[int, ...]


@dataclass(frozen=True)
class DatasetSplits:
    name: str
    train: Split | StreamSplit
    validation: Split
    test: Split
    num_classes: int
    class_names: tuple[str, ...]

    @property
    def example_shape(self) -> tuple[int, ...]:
        return self.validation.x.shape[1:]


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels).reshape(-1).astype(np.int64)]


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every array with one scalar mean and std computed over all training pixels.

    This is xavier_init's preprocessing (reference/glorot.md §1.6): not per feature.
    """
    train = np.asarray(train, dtype=np.float32)
    mean, std = float(train.mean()), float(train.std())
    return [(np.asarray(a, dtype=np.float32) - mean) / std for a in (train, *others)]


def hold_out(examples: Split, count: int, seed: int) -> tuple[Split, Split]:
    """(rest, held out): `count` examples drawn at random by `seed` (a torch random_split of a training
    set into training and validation), each part in the examples' order."""
    if not 0 < count < len(examples):
        raise ValueError(f"cannot hold out {count} of {len(examples)} examples")
    order = np.random.default_rng([seed, VALIDATION_SPLIT_STREAM]).permutation(len(examples))
    take = lambda indices: Split(examples.x[indices], examples.y[indices])  # noqa: E731
    return take(np.sort(order[count:])), take(np.sort(order[:count]))
