"""The glorot study's training budget: xavier_init's 2.5e7 training examples (reference/glorot.md §1.5).

xavier_init's 416 (MNIST) and 500 (CIFAR-10) epochs were 2.5e7 over 60,000 / 50,000 images; initlab
holds 10,000 of them out for validation (the paper's split), so the epochs follow the split it trains on.
"""

import math

import numpy as np
import pytest

from lib.datasets import DATASETS
from lib.datasets.splits import DatasetSplits, Split
from lib.studies.glorot.config import GlorotConfig, resolve, with_data_defaults
from tests.core.test_datasets import write_cifar, write_mnist

BUDGET = 2.5e7


def splits_of(name: str, train_examples: int) -> DatasetSplits:
    """Splits with `train_examples` training rows (contents do not matter to the budget)."""
    x, y = np.zeros((train_examples, 1), np.float32), np.zeros((train_examples, 10), np.float32)
    tiny = Split(x[:2], y[:2])
    return DatasetSplits(name, Split(x, y), tiny, tiny, 10, tuple("0123456789"))


def defaults(dataset: str, splits, **flags) -> GlorotConfig:
    return with_data_defaults(resolve(GlorotConfig(dataset=dataset, **flags)), splits)


@pytest.mark.parametrize("dataset, train_examples, epochs", [("mnist", 50_000, 500), ("cifar10", 40_000, 625),
                                                            ("cifar100", 40_000, 625)])
def test_paper_datasets_train_for_2_5e7_examples_of_the_split_they_train_on(dataset, train_examples, epochs):
    config = defaults(dataset, splits_of(dataset, train_examples))
    assert (config.epochs, config.batch_size) == (epochs, 32)
    assert config.epochs == math.ceil(BUDGET / train_examples)
    assert config.epochs * train_examples >= BUDGET > (config.epochs - 1) * train_examples
    # Updates x batch: each epoch is ceil(examples / 32) batches, so at most one partial batch per epoch over.
    drawn = config.epochs * config.steps_per_epoch * config.batch_size
    print(f"{dataset}: {config.epochs} epochs x {config.steps_per_epoch} steps x {config.batch_size} = {drawn:,}")
    assert BUDGET <= drawn <= BUDGET * (1 + 1e-3)


def test_shapeset_trains_for_125_epochs_of_20000_updates_of_10():
    config = defaults("shapeset", DATASETS.build("shapeset", tiny=True))
    assert (config.epochs, config.steps_per_epoch, config.batch_size) == (125, 20_000, 10)
    assert config.epochs * config.steps_per_epoch * config.batch_size == BUDGET


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_small_offline_datasets_keep_100_epochs(dataset):
    config = defaults(dataset, DATASETS.build(dataset, tiny=True))
    assert (config.epochs, config.batch_size) == (100, 32)


def test_the_budget_follows_the_files_actually_read(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    write_mnist(tmp_path)  # 20 images, 4 held out: 16 train
    write_cifar(tmp_path)  # 15 images, 4 held out: 11 train
    for dataset, train_examples in (("mnist", 16), ("cifar10", 11)):
        splits = DATASETS.build(dataset, tiny=True)
        assert len(splits.train) == train_examples
        assert defaults(dataset, splits).epochs == math.ceil(BUDGET / train_examples)


def test_flags_and_debug_override_the_budget():
    splits = splits_of("mnist", 50_000)
    assert defaults("mnist", splits, epochs=3, batch_size=100).epochs == 3
    debug = defaults("mnist", splits, debug=True)
    assert (debug.epochs, debug.steps_per_epoch) == (5, math.ceil(1000 / 32))  # xavier_init's --debug (§1.7)
