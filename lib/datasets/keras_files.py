"""MNIST, CIFAR-10 and CIFAR-100 from the files keras.datasets caches under ~/.keras/datasets.

The files are read here with the same format rules as keras.datasets (an .npz for MNIST,
pickled batches for CIFAR-10) so that the reading code can be tested on tiny files written
in the real format; when a file is absent, keras.datasets downloads it into that cache.
With no network, or with INITLAB_OFFLINE=1, the error names the file and where to put it.

Splits follow Glorot & Bengio (§2.2): the last 10,000 training examples are held out for
validation and the test set is used only for the final evaluation. Preprocessing follows
xavier_init: one scalar mean/std over the training pixels, labels one-hot. A study can ask
for another split (`validation_size=0`: train on all 50,000) and for the pixels scaled to
[0, 1] and nothing more (`normalization="unit"`), to normalize them its own way (the constnet
study's per-channel CIFAR constants live in lib/studies/constnet/config.py).
"""

import os
import pickle

import numpy as np

from lib.datasets import DATASETS
from lib.datasets.splits import DatasetSplits, Split, one_hot, standardize
from lib.errors import DatasetUnavailable, UsageError

VALIDATION_SIZE = 10_000  # the paper holds out 10,000 training examples
# scalar: xavier_init's standardization (splits.standardize); unit: pixel levels / 255, in [0, 1].
NORMALIZATIONS = ("scalar", "unit")

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


def keras_datasets_dir() -> str:
    """Where the files are read from: $INITLAB_DATA_PATH when a study sets it (the diversity study's
    --data_path), else where keras.datasets caches them: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    if os.environ.get("INITLAB_DATA_PATH"):
        return os.environ["INITLAB_DATA_PATH"]
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return os.path.join(home, "datasets")


def mnist_path() -> str:
    return os.path.join(keras_datasets_dir(), "mnist.npz")


def cifar10_dir() -> str:
    """The folder holding data_batch_1..5 and test_batch (Keras 3 layout first, then the older one)."""
    base = keras_datasets_dir()
    candidates = [os.path.join(base, "cifar-10-batches-py-target", "cifar-10-batches-py"),
                  os.path.join(base, "cifar-10-batches-py")]
    return next((c for c in candidates if os.path.isdir(c)), candidates[0])


def cifar100_dir() -> str:
    """The folder holding the CIFAR-100 `train` and `test` pickles."""
    base = keras_datasets_dir()
    candidates = [os.path.join(base, "cifar-100-python-target", "cifar-100-python"),
                  os.path.join(base, "cifar-100-python")]
    return next((c for c in candidates if os.path.isdir(c)), candidates[0])


def read_mnist_npz(path: str):
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def read_cifar_batch(path: str, label_key: str = "labels"):
    """One pickled CIFAR batch -> (images (N, 32, 32, 3) uint8, labels (N,))."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[label_key])


def read_cifar10_dir(folder: str):
    parts = [read_cifar_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return (x_train, y_train), read_cifar_batch(os.path.join(folder, "test_batch"))


def read_cifar100_dir(folder: str):
    """CIFAR-100 with its 100 fine labels."""
    return (read_cifar_batch(os.path.join(folder, "train"), "fine_labels"),
            read_cifar_batch(os.path.join(folder, "test"), "fine_labels"))


def _keras_datasets():
    import keras  # only when a download is needed: TensorFlow takes seconds to start

    return keras.datasets


def _fetch(name: str, path: str, hint: str, download) -> None:
    """Make sure `path` exists, downloading through keras.datasets unless offline."""
    if os.path.exists(path):
        return
    hint += " or run once with network access"
    if os.environ.get("INITLAB_OFFLINE") == "1":
        raise DatasetUnavailable(f"{name}: file not found: {path}; {hint}")
    try:
        download()
    except Exception as error:  # keras raises a bare Exception for URL failures
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetUnavailable(f"{name}: file not found: {path} and download failed ({reason}); {hint}") from None
    if not os.path.exists(path):
        raise DatasetUnavailable(f"{name}: keras.datasets did not leave {path}; {hint}")


def check_normalization(normalization: str) -> None:
    """Fail before any file is read: a bad option is the caller's error, not the data's."""
    if normalization not in NORMALIZATIONS:
        raise UsageError(f"unknown normalization '{normalization}' (valid: {', '.join(NORMALIZATIONS)})")


def _normalize(normalization: str, train, *others) -> list[np.ndarray]:
    if normalization == "scalar":
        return standardize(train, *others)
    return [np.asarray(a, dtype=np.float32) / 255 for a in (train, *others)]


def _splits(name, train, test, num_classes, validation_size, normalization="scalar") -> DatasetSplits:
    (x_train, y_train), (x_test, y_test) = train, test
    cut = len(x_train) - validation_size
    x_fit, x_val, x_test = _normalize(normalization, x_train[:cut], x_train[cut:], x_test)
    return DatasetSplits(
        name=name,
        train=Split(x_fit, one_hot(y_train[:cut], num_classes)),
        validation=Split(x_val, one_hot(y_train[cut:], num_classes)),
        test=Split(x_test, one_hot(y_test, num_classes)),
        num_classes=num_classes, class_names=tuple(str(i) for i in range(num_classes)))


@DATASETS.register("mnist", tiny={"validation_size": 4})
def mnist(seed: int = 0, validation_size: int = VALIDATION_SIZE, normalization: str = "scalar") -> DatasetSplits:
    """MNIST 28x28 digits: 50,000 train / 10,000 validation / 10,000 test (keras.datasets file)."""
    check_normalization(normalization)
    path = mnist_path()
    _fetch("mnist", path, f"put {MNIST_URL} there", lambda: _keras_datasets().mnist.load_data())
    train, test = read_mnist_npz(path)
    return _splits("mnist", (train[0][..., None], train[1]), (test[0][..., None], test[1]), 10, validation_size,
                   normalization)


def _cifar(name: str, folder: str, url: str, read, download, num_classes: int, validation_size: int,
           normalization: str) -> DatasetSplits:
    """Fetch (unless present) and read one of the CIFAR archives; a missing batch file says what to redo."""
    check_normalization(normalization)
    _fetch(name, folder, f"extract {url} into {os.path.dirname(folder)}", download)
    try:
        train, test = read(folder)
    except FileNotFoundError as error:
        raise DatasetUnavailable(f"{name}: {error.filename} is missing (a partly extracted archive?); "
                                 f"extract {url} into {os.path.dirname(folder)} again") from None
    return _splits(name, train, test, num_classes, validation_size, normalization)


@DATASETS.register("cifar10", tiny={"validation_size": 4})
def cifar10(seed: int = 0, validation_size: int = VALIDATION_SIZE, normalization: str = "scalar") -> DatasetSplits:
    """CIFAR-10 32x32x3: 40,000 train / 10,000 validation / 10,000 test (keras.datasets files)."""
    return _cifar("cifar10", cifar10_dir(), CIFAR10_URL, read_cifar10_dir, lambda: _keras_datasets().cifar10.load_data(),
                  10, validation_size, normalization)


@DATASETS.register("cifar100", tiny={"validation_size": 4})
def cifar100(seed: int = 0, validation_size: int = VALIDATION_SIZE, normalization: str = "scalar") -> DatasetSplits:
    """CIFAR-100 32x32x3, 100 fine classes: 40,000 train / 10,000 validation / 10,000 test (keras.datasets files)."""
    return _cifar("cifar100", cifar100_dir(), CIFAR100_URL, read_cifar100_dir,
                  lambda: _keras_datasets().cifar100.load_data(label_mode="fine"), 100, validation_size,
                  normalization)
