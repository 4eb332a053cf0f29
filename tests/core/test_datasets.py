"""Dataset loaders and input pipeline (reference/glorot.md §1.6, §4.1; DESIGN.md principle 8).

MNIST and CIFAR-10 are read from tiny files written in the real keras.datasets formats under
a temporary KERAS_HOME; nothing here touches the network.
"""

import dataclasses
import pickle
import random

import numpy as np
import pytest

from lib.datasets import DATASETS
from lib.datasets.pipeline import ArrayStream, StreamBatches, fit_inputs
from lib.datasets.shapeset import CLASS_NAMES, ShapesetStream
from lib.datasets.splits import DatasetSplits, Split, StreamSplit
from lib.errors import DatasetUnavailable, UsageError

TINY_VALIDATION = 4  # the tiny override of mnist and cifar10
# Standardized values are O(1) float32 (rounding ~1e-7) and the code's float32 mean/std differ from
# a float64 recomputation by ~1e-6 relative: 1e-5 is tight enough to catch any other statistics.
STANDARDIZE_TOL = 1e-5

CIFAR_DIRS = {
    "keras3": ("cifar-10-batches-py-target", "cifar-10-batches-py"),
    "older": ("cifar-10-batches-py",),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every test gets an empty KERAS_HOME and no network."""
    monkeypatch.setenv("INITLAB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))


def raw_images(rng, count, shape, low, high):
    return rng.integers(low, high, size=(count, *shape), dtype=np.uint8)


def write_mnist(home, n_train=20, n_test=6):
    """datasets/mnist.npz as keras.datasets.mnist caches it; training pixels in [0, 120),
    validation pixels (the last TINY_VALIDATION) in [200, 256) so that statistics that wrongly
    include them are visibly off."""
    rng = np.random.default_rng(1)
    x_train = np.concatenate([raw_images(rng, n_train - TINY_VALIDATION, (28, 28), 0, 120),
                              raw_images(rng, TINY_VALIDATION, (28, 28), 200, 256)])
    raw = dict(x_train=x_train, y_train=(np.arange(n_train) % 10).astype(np.uint8),
               x_test=raw_images(rng, n_test, (28, 28), 0, 256), y_test=(np.arange(n_test) * 3 % 10).astype(np.uint8))
    (home / "datasets").mkdir(parents=True, exist_ok=True)
    np.savez(home / "datasets" / "mnist.npz", **raw)
    return raw


def cifar_row(image):
    """(32, 32, 3) HWC image -> the 3072-byte CIFAR row: 1024 R, then 1024 G, then 1024 B, each row-major."""
    return image.transpose(2, 0, 1).reshape(-1)


def write_cifar(home, layout="keras3", per_batch=3, n_test=4):
    """data_batch_1..5 and test_batch as pickled dicts with bytes keys (the real CIFAR-10 python format).

    Training image 0 has R = 2·row, G = 100 + 2·col, B = 250 (channels and axes distinguishable);
    test image 0 has constant planes R = 10, G = 90, B = 170.
    """
    rng = np.random.default_rng(2)
    folder = home.joinpath("datasets", *CIFAR_DIRS[layout])
    folder.mkdir(parents=True)
    x_train = raw_images(rng, 5 * per_batch, (32, 32, 3), 0, 256)
    rows, cols = np.mgrid[0:32, 0:32]
    x_train[0] = np.stack([2 * rows, 100 + 2 * cols, np.full((32, 32), 250)], axis=-1)
    y_train = np.arange(5 * per_batch) % 10
    x_test = raw_images(rng, n_test, (32, 32, 3), 0, 256)
    x_test[0] = np.array([10, 90, 170], dtype=np.uint8)
    y_test = (np.arange(n_test) + 7) % 10

    def dump(name, images, labels):
        batch = {b"batch_label": name.encode(), b"labels": [int(label) for label in labels],
                 b"data": np.stack([cifar_row(image) for image in images]),
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(len(images))]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)

    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        dump(f"data_batch_{i + 1}", x_train[part], y_train[part])
    dump("test_batch", x_test, y_test)
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def train_statistics(x_train):
    """Scalar mean and std over the training portion's pixels, recomputed in float64."""
    fit = x_train[:len(x_train) - TINY_VALIDATION].astype(np.float64)
    return fit.mean(), fit.std()


def check_keras_file_splits(data, raw, image_shape, num_classes=10):
    n_train = len(raw["x_train"])
    cut = n_train - TINY_VALIDATION
    assert (len(data.train), len(data.validation), len(data.test)) == (cut, TINY_VALIDATION, len(raw["x_test"]))
    assert data.num_classes == num_classes and data.example_shape == image_shape
    mean, std = train_statistics(raw["x_train"])
    raw_x_train = raw["x_train"].reshape(n_train, *image_shape)
    raw_x_test = raw["x_test"].reshape(len(raw["x_test"]), *image_shape)
    for split, images in [(data.train, raw_x_train[:cut]), (data.validation, raw_x_train[cut:]),
                          (data.test, raw_x_test)]:
        assert split.x.dtype == np.float32
        np.testing.assert_allclose(split.x, (images - mean) / std, rtol=STANDARDIZE_TOL, atol=STANDARDIZE_TOL)
    # The training portion itself comes out with mean 0, std 1 (same float32 tolerance).
    assert abs(data.train.x.mean()) < STANDARDIZE_TOL * 10 and abs(data.train.x.std() - 1) < STANDARDIZE_TOL * 10
    for split, labels in [(data.train, raw["y_train"][:cut]), (data.validation, raw["y_train"][cut:]),
                          (data.test, raw["y_test"])]:
        assert split.y.dtype == np.float32 and split.y.shape == (len(labels), num_classes)
        np.testing.assert_array_equal(split.y, np.eye(num_classes)[np.asarray(labels, dtype=int)])
    flat = data.train.flat()
    assert flat.x.shape == (cut, int(np.prod(image_shape)))
    np.testing.assert_array_equal(flat.x[1], data.train.x[1].reshape(-1))  # row-major flattening


def test_mnist_reads_the_keras_file(tmp_path):
    raw = write_mnist(tmp_path)
    data = DATASETS.build("mnist", tiny=True)
    check_keras_file_splits(data, raw, (28, 28, 1))
    assert data.train.flat().x.shape[1] == 784
    # Validation pixels are far above the training ones, so train statistics put them well above 0.
    assert data.validation.x.min() > 1


def write_cifar100(home, n_train=15, n_test=4):
    """`train` and `test` pickles of the real CIFAR-100 python format: fine and coarse labels differ."""
    rng = np.random.default_rng(3)
    folder = home.joinpath("datasets", "cifar-100-python-target", "cifar-100-python")
    folder.mkdir(parents=True)
    raw = {}
    for name, count in (("train", n_train), ("test", n_test)):
        images = raw_images(rng, count, (32, 32, 3), 0, 256)
        fine = (np.arange(count) * 7 + 3) % 100
        batch = {b"data": np.stack([cifar_row(image) for image in images]), b"fine_labels": [int(v) for v in fine],
                 b"coarse_labels": [int(v) % 20 for v in fine], b"filenames": [b"x.png"] * count}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        raw[f"x_{name}"], raw[f"y_{name}"] = images, fine
    return raw


def test_cifar100_reads_fine_labels_and_unit_pixels_on_request(tmp_path):
    raw = write_cifar100(tmp_path)
    data = DATASETS.build("cifar100", tiny=True)
    check_keras_file_splits(data, raw, (32, 32, 3), num_classes=100)
    # "unit": pixel levels / 255 and nothing more (a study normalizes them its own way).
    unit = DATASETS.build("cifar100", validation_size=0, normalization="unit")
    assert unit.train.x.dtype == np.float32 and len(unit.train) == 15 and len(unit.validation) == 0
    np.testing.assert_array_equal(unit.train.x, raw["x_train"].astype(np.float32) / 255)
    np.testing.assert_array_equal(unit.test.x, raw["x_test"].astype(np.float32) / 255)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100"])
def test_unknown_normalization_is_one_line_before_any_file_is_read(name):
    with pytest.raises(UsageError, match=r"unknown normalization 'cifar_channels' \(valid: scalar, unit\)"):
        DATASETS.build(name, normalization="cifar_channels")  # no file written: a DatasetUnavailable otherwise


def test_dataset_splits_hold_data_only():
    """Batch sizes, epochs and epoch lengths belong to the study that chooses them, not to the dataset."""
    assert [f.name for f in dataclasses.fields(DatasetSplits)] == \
        ["name", "train", "validation", "test", "num_classes", "class_names"]


@pytest.mark.parametrize("layout", sorted(CIFAR_DIRS))
def test_cifar10_reads_the_pickled_batches(tmp_path, layout):
    raw = write_cifar(tmp_path, layout)
    data = DATASETS.build("cifar10", tiny=True)
    check_keras_file_splits(data, raw, (32, 32, 3))
    assert data.train.flat().x.shape[1] == 3072


def test_cifar10_channel_order_and_pixel_layout(tmp_path):
    raw = write_cifar(tmp_path)
    data = DATASETS.build("cifar10", tiny=True)
    mean, std = train_statistics(raw["x_train"])
    # Undo the standardization; uint8 levels come back to within float32 rounding (~1e-4 at 255).
    gradient = data.train.x[0] * std + mean
    rows, cols = np.mgrid[0:32, 0:32]
    np.testing.assert_allclose(gradient[..., 0], 2 * rows, atol=1e-3)
    np.testing.assert_allclose(gradient[..., 1], 100 + 2 * cols, atol=1e-3)
    np.testing.assert_allclose(gradient[..., 2], 250, atol=1e-3)
    constant = data.test.x[0] * std + mean
    for channel, level in enumerate((10, 90, 170)):
        np.testing.assert_allclose(constant[..., channel], level, atol=1e-3)


@pytest.mark.parametrize("name, expected", [
    ("mnist", ("datasets", "mnist.npz")),
    ("cifar10", ("datasets", "cifar-10-batches-py-target", "cifar-10-batches-py")),
    ("cifar100", ("datasets", "cifar-100-python-target", "cifar-100-python")),
])
def test_missing_keras_file_names_the_expected_path(tmp_path, name, expected):
    with pytest.raises(DatasetUnavailable) as error:
        DATASETS.build(name)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path.joinpath(*expected)) in message


def test_mnist1d_is_small_1d_and_leaves_global_rngs_alone():
    np.random.seed(123)
    random.seed(456)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    data = DATASETS.build("mnist1d", tiny=True)
    # The next draws are those the untouched states would give.
    numpy_next, python_next = np.random.random(5), [random.random() for _ in range(5)]
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    np.testing.assert_array_equal(numpy_next, np.random.random(5))
    assert python_next == [random.random() for _ in range(5)]

    assert data.num_classes == 10
    for split in (data.train, data.validation, data.test):
        assert split.x.ndim == 2 and split.x.shape[1] == 40 and split.x.dtype == np.float32
        assert split.y.shape == (len(split), 10)
        np.testing.assert_array_equal(split.y.sum(axis=1), 1)
    # tiny: 1,000 samples, 80 % train+validation (the package's split), 1/8 of that for validation.
    assert (len(data.train), len(data.validation), len(data.test)) == (700, 100, 200)
    assert set(np.argmax(data.train.y, axis=1)) == set(range(10))


def test_mnist1d_data_does_not_depend_on_the_run_seed():
    first, second = DATASETS.build("mnist1d", seed=0, tiny=True), DATASETS.build("mnist1d", seed=3, tiny=True)
    np.testing.assert_array_equal(first.train.x, second.train.x)


def sorted_rows(table):
    """Rows in lexicographic order: two tables hold the same multiset of rows iff these are equal."""
    return table[np.lexsort(table.T[::-1])]


def test_digits_split_and_standardization():
    from sklearn.datasets import load_digits

    data = DATASETS.build("digits")
    assert (len(data.train), len(data.validation), len(data.test)) == (1197, 300, 300)
    assert data.example_shape == (8, 8, 1) and data.train.x.shape[1:] == (8, 8, 1)
    # 76,608 float32 training pixels: mean and std land within ~1e-6 of 0 and 1; 1e-4 is generous.
    assert abs(data.train.x.mean()) < 1e-4 and abs(data.train.x.std() - 1) < 1e-4
    # Raw pixels are the integers 0..16 and the training set holds both extremes, so its min and
    # max give back the train statistics; validation and test must map back to integers with them.
    low, high = data.train.x.min(), data.train.x.max()
    std = 16 / (high - low)
    mean = -low * std
    restored = np.concatenate([split.x for split in (data.train, data.validation, data.test)]) * std + mean
    np.testing.assert_allclose(restored, np.round(restored), atol=1e-3)
    assert restored.min() > -1e-3 and restored.max() < 16 + 1e-3
    # Together the splits hold every image exactly once, each with its label.
    digits = load_digits()
    labelled = np.column_stack([np.round(restored).reshape(len(restored), -1),
                                np.argmax(np.concatenate([data.train.y, data.validation.y, data.test.y]), axis=1)])
    reference = np.column_stack([digits.images.reshape(len(digits.images), -1), digits.target])
    np.testing.assert_array_equal(sorted_rows(labelled), sorted_rows(reference))


def test_digits_split_does_not_depend_on_the_run_seed():
    first, second = DATASETS.build("digits", seed=0), DATASETS.build("digits", seed=9)
    np.testing.assert_array_equal(first.validation.x, second.validation.x)


@pytest.mark.parametrize("seed", [0, 3])
def test_shapeset_splits_follow_the_reference_stream_order(seed):
    data = DATASETS.build("shapeset", seed=seed, tiny=True)
    validation_size, test_size = len(data.validation), len(data.test)
    assert (validation_size, test_size) == (30, 100)  # the tiny overrides
    assert data.num_classes == 9 == len(data.class_names) and data.class_names == tuple(CLASS_NAMES)
    assert data.example_shape == (32, 32, 1)

    images, labels = ShapesetStream(seed, "train").examples(0, validation_size)
    np.testing.assert_array_equal(data.validation.x, images.reshape(-1, 32, 32, 1))
    np.testing.assert_array_equal(data.validation.y, np.eye(9)[labels])

    assert isinstance(data.train, StreamSplit)
    assert data.train.start == validation_size and data.train.example_shape == (32, 32, 1)
    train_images, train_labels = data.train.stream.examples(data.train.start, 20)
    expected_images, expected_labels = ShapesetStream(seed, "train").examples(validation_size, 20)
    np.testing.assert_array_equal(train_images, expected_images)
    np.testing.assert_array_equal(train_labels, expected_labels)

    test_images, test_labels = ShapesetStream(seed, "test").examples(0, test_size)
    np.testing.assert_array_equal(data.test.x, test_images.reshape(-1, 32, 32, 1))
    np.testing.assert_array_equal(data.test.y, np.eye(9)[test_labels])
    for x in (data.validation.x, data.test.x, train_images):
        assert x.min() >= -1 and x.max() <= 1


def test_shapeset_seed_changes_the_data():
    first, second = DATASETS.build("shapeset", seed=0, tiny=True), DATASETS.build("shapeset", seed=1, tiny=True)
    assert not np.array_equal(first.validation.x, second.validation.x)


class PositionStream:
    """A stream whose example at position p is the constant image p with label p mod 7."""

    def examples(self, start, count):
        positions = np.arange(start, start + count)
        return np.broadcast_to(positions[:, None, None].astype(np.float32), (count, 4, 3)).copy(), positions % 7


@pytest.mark.parametrize("flat", [False, True])
def test_stream_batches_hold_consecutive_stream_positions(flat):
    stream, start, batch_size, first_batch = PositionStream(), 13, 5, 2
    batches = StreamBatches(StreamSplit(stream, start, (4, 3)), batch_size=batch_size, num_classes=7, flat=flat,
                            first_batch=first_batch)
    assert batches.num_batches is None
    for index in (0, 1, 6):
        x, y = batches[index]
        position = start + (first_batch + index) * batch_size
        images, labels = stream.examples(position, batch_size)
        assert x.shape == ((batch_size, 12) if flat else (batch_size, 4, 3))
        np.testing.assert_array_equal(x.reshape(images.shape), images)
        np.testing.assert_array_equal(x.reshape(batch_size, -1)[:, 0], np.arange(position, position + batch_size))
        assert y.dtype == np.float32 and y.shape == (batch_size, 7)
        np.testing.assert_array_equal(y, np.eye(7)[labels])


def test_stream_batches_read_the_shapeset_stream():
    stream = ShapesetStream(0, "train")
    batches = StreamBatches(StreamSplit(stream, 300, (32, 32, 1)), batch_size=10, num_classes=9, flat=True)
    x, y = batches[3]
    images, labels = ShapesetStream(0, "train").examples(330, 10)
    np.testing.assert_array_equal(x, images.reshape(10, 1024))
    np.testing.assert_array_equal(np.argmax(y, axis=1), labels)


def array_split(count=10):
    """Example i is the constant row i with label i mod 4."""
    x = np.repeat(np.arange(count, dtype=np.float32)[:, None], 3, axis=1)
    return Split(x, np.eye(4, dtype=np.float32)[np.arange(count) % 4])


def test_array_stream_visits_every_example_once_per_pass_and_reshuffles():
    count, passes = 10, 4
    x, labels = ArrayStream(array_split(count), seed=0).examples(0, count * passes)
    order = x[:, 0].astype(int).reshape(passes, count)
    for visit in order:
        assert sorted(visit) == list(range(count))
    # A new permutation each pass (10! orders: a repeat between seeded passes would be a bug).
    assert len({tuple(visit) for visit in order}) == passes
    assert not (order == np.arange(count)).all(axis=1).any()  # actually shuffled
    np.testing.assert_array_equal(labels, x[:, 0].astype(int) % 4)


def test_array_stream_is_deterministic_and_random_access():
    split = array_split()
    whole = ArrayStream(split, seed=4).examples(0, 40)
    again = ArrayStream(split, seed=4).examples(0, 40)
    np.testing.assert_array_equal(whole[0], again[0])
    # A read straddling a pass boundary equals the slice of the longer read.
    piece = ArrayStream(split, seed=4).examples(7, 16)
    np.testing.assert_array_equal(piece[0], whole[0][7:23])
    np.testing.assert_array_equal(piece[1], whole[1][7:23])
    other = ArrayStream(split, seed=5).examples(0, 40)
    assert not np.array_equal(whole[0], other[0])


def test_fit_inputs_cycles_arrays_as_a_resumable_stream():
    split = array_split()
    cycled = fit_inputs(split, batch_size=4, steps_per_epoch=3, num_classes=4, flat=True, seed=0)
    assert cycled["steps_per_epoch"] == 3 and cycled["shuffle"] is False
    x, y = cycled["x"][2]  # positions 8..11 wrap into the second pass
    expected_x, expected_labels = ArrayStream(split, seed=0).examples(8, 4)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(np.argmax(y, axis=1), expected_labels)
    resumed = fit_inputs(split, batch_size=4, steps_per_epoch=3, num_classes=4, flat=True, seed=0)["x"]
    resumed.first_batch = 2  # a run resumed after 2 batches: its batch 0 is the uninterrupted run's batch 2
    np.testing.assert_array_equal(resumed[0][0], x)
