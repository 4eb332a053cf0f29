"""Dataset registry: each entry returns a `DatasetSplits` for a run seed."""

from lib.registry import Registry

DATASETS = Registry("dataset")

from lib.datasets import keras_files, offline  # noqa: E402,F401  (register their entries)
