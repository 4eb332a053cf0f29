"""The registry contract (DESIGN.md principle 3): every registered model, initializer and dataset
builds at its `tiny` size through the uniform signature, so a new entry is tested without a new test.

Models: `build(input_shape, num_classes, *, seed, **hp)`; initializers: `build(seed, **parameters)`,
a `keras.initializers.Initializer` that survives serialization (principle 4); datasets:
`build(seed, **options)` -> DatasetSplits, the keras.datasets ones read from tiny files written
in the real format (tests/core/test_datasets.py's writers).
"""

import inspect

import keras
import numpy as np
import pytest

from lib.datasets import DATASETS
from lib.datasets.splits import DatasetSplits, Split, StreamSplit
from lib.initializers import INITIALIZERS
from models import MODELS
from tests.core.test_datasets import write_cifar, write_cifar100, write_mnist

IMAGE_SHAPE, NUM_CLASSES = (16, 16, 3), 7  # every model family takes images (feedforward flattens them)
KERNEL_SHAPE = (3, 3, 4, 6)  # a conv kernel: the channel patterns need one; every entry accepts it


def check_tiny_overrides_are_parameters(registry, name):
    entry = registry.entry(name)
    parameters = inspect.signature(entry.build).parameters
    assert set(entry.tiny) <= set(parameters), f"{name}: tiny overrides {entry.tiny} that the builder does not take"
    return parameters


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_builds_at_tiny_size_through_the_uniform_signature(name):
    parameters = check_tiny_overrides_are_parameters(MODELS, name)
    positional = [p.name for p in parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional[:2] == ["input_shape", "num_classes"], name
    assert parameters["seed"].kind == inspect.Parameter.KEYWORD_ONLY, f"{name}: seed must be keyword-only"
    model = MODELS.build(name, IMAGE_SHAPE, NUM_CLASSES, seed=5, tiny=True)
    assert isinstance(model, keras.Model) and model.name == name
    x = np.random.default_rng(0).normal(size=(2, *IMAGE_SHAPE)).astype(np.float32)
    y = keras.ops.convert_to_numpy(model(x))
    assert y.shape == (2, NUM_CLASSES) and np.isfinite(y).all()
    again = MODELS.build(name, IMAGE_SHAPE, NUM_CLASSES, seed=5, tiny=True)
    for w, w_again in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(w, w_again)  # the seed alone fixes the weights


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_every_initializer_builds_at_tiny_size_and_survives_serialization(name):
    parameters = check_tiny_overrides_are_parameters(INITIALIZERS, name)
    assert "seed" in parameters, f"{name}: the builder must take the layer's seed"
    initializer = INITIALIZERS.build(name, seed=3, tiny=True)
    assert isinstance(initializer, keras.initializers.Initializer)
    values = keras.ops.convert_to_numpy(initializer(KERNEL_SHAPE))
    assert values.shape == KERNEL_SHAPE and np.isfinite(values).all()
    # A saved model reloads with the same initializer: the same seeded tensor (principle 4).
    restored = keras.initializers.deserialize(keras.initializers.serialize(initializer))
    assert type(restored) is type(initializer)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(KERNEL_SHAPE)), values)


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_builds_at_tiny_size(tmp_path, monkeypatch, name):
    monkeypatch.setenv("INITLAB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    write_mnist(tmp_path)
    write_cifar(tmp_path)
    write_cifar100(tmp_path)
    parameters = check_tiny_overrides_are_parameters(DATASETS, name)
    assert "seed" in parameters, f"{name}: the builder must take the run seed"
    data = DATASETS.build(name, seed=0, tiny=True)
    assert isinstance(data, DatasetSplits) and data.name == name
    assert len(data.validation) > 0 and len(data.test) > 0
    assert len(data.class_names) == data.num_classes
    if isinstance(data.train, StreamSplit):
        x, labels = data.train.stream.examples(data.train.start, 3)
        assert x.reshape(3, *data.example_shape).shape[1:] == data.example_shape
        assert ((0 <= labels) & (labels < data.num_classes)).all()
    else:
        assert isinstance(data.train, Split) and len(data.train) > 0
    for split in (data.validation, data.test) + ((data.train,) if isinstance(data.train, Split) else ()):
        assert split.y.shape == (len(split), data.num_classes)
        np.testing.assert_array_equal(split.y.sum(axis=1), 1)  # one-hot
        assert split.x.shape[1:] == data.example_shape
        assert split.x.dtype == np.float32 and np.isfinite(split.x).all()
