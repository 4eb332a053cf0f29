"""Datasets that need no network: Shapeset-3x2 (generated), MNIST-1D (generated), digits.

These are the defaults of the quick start and of the tests (DESIGN.md, principle 8).
"""

import random

import numpy as np

from lib.datasets import DATASETS
from lib.datasets.splits import DatasetSplits, Split, StreamSplit, one_hot, standardize

SHAPESET_VALIDATION_SIZE = 300  # the paper's fixed set of 300 examples for statistics (§2.3)
SHAPESET_TEST_SIZE = 10_000


@DATASETS.register("shapeset", tiny={"validation_size": 30, "test_size": 100})
def shapeset(seed: int = 0, validation_size: int = SHAPESET_VALIDATION_SIZE,
             test_size: int = SHAPESET_TEST_SIZE) -> DatasetSplits:
    """Shapeset-3x2 (32x32, 9 classes), an infinite online stream; pixels in [-1, 1].

    As in xavier_init, the validation set is drawn first from the training stream and
    training continues from the next example; the test set is a separate stream.
    """
    from lib.datasets.shapeset import CLASS_NAMES, ShapesetStream

    shape = (32, 32, 1)

    def split(stream, count):
        x, labels = stream.examples(0, count)
        return Split(x.reshape(count, *shape), one_hot(labels, len(CLASS_NAMES)))

    return DatasetSplits(
        name="shapeset",
        # Separate stream objects (same seed, same examples): a stream draws into its own
        # pygame surface, and training reads it from the input pipeline's thread.
        train=StreamSplit(ShapesetStream(seed, "train"), validation_size, shape),
        validation=split(ShapesetStream(seed, "train"), validation_size),
        test=split(ShapesetStream(seed, "test"), test_size),
        num_classes=len(CLASS_NAMES), class_names=tuple(CLASS_NAMES))


@DATASETS.register("mnist1d", tiny={"num_samples": 1000})
def mnist1d(seed: int = 0, num_samples: int = 5000, validation_size: int | None = None) -> DatasetSplits:
    """MNIST-1D (40-sample 1-D signals, 10 classes) from the mnist1d package's local generator.

    The data seed stays the package's canonical 42 whatever the run seed, so that every run
    sees the same dataset; the package's own download is never used.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    # make_dataset seeds Python's and NumPy's global RNGs; keep the caller's state intact.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x, y = data["x"].astype(np.float32), data["y"]
    validation_size = len(x) // 8 if validation_size is None else validation_size
    cut = len(x) - validation_size
    return DatasetSplits(
        name="mnist1d",
        train=Split(x[:cut], one_hot(y[:cut], 10)),
        validation=Split(x[cut:], one_hot(y[cut:], 10)),
        test=Split(data["x_test"].astype(np.float32), one_hot(data["y_test"], 10)),
        num_classes=10, class_names=tuple(str(i) for i in range(10)))


@DATASETS.register("digits")
def digits(seed: int = 0) -> DatasetSplits:
    """scikit-learn's 8x8 handwritten digits (1,797 images): 1,197 train / 300 validation / 300 test.

    The split uses a fixed permutation (not the run seed) so every run sees the same split.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    order = np.random.default_rng(0).permutation(len(bunch.target))
    x = bunch.images[order][..., None]
    y = one_hot(bunch.target[order], 10)
    x_train, x_val, x_test = standardize(x[:-600], x[-600:-300], x[-300:])
    return DatasetSplits(
        name="digits",
        train=Split(x_train, y[:-600]), validation=Split(x_val, y[-600:-300]), test=Split(x_test, y[-300:]),
        num_classes=10, class_names=tuple(str(i) for i in range(10)))
