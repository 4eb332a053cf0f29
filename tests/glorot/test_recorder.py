"""The GradientActivationStore and its h5 files: epoch0 is the untrained net, records round-trip,
a record cut short never shows, memory does not grow with the number of records."""

import json
import os
import tracemalloc

import h5py
import keras
import numpy as np
import pytest

from lib.backend.probe_record import ProbeRecord
from lib.cli import main
from lib.datasets import DATASETS
from lib.errors import UsageError
from lib.storage.records import RecordWriter, read_record, record_epochs
from lib.studies.glorot.config import GlorotConfig, resolve
from lib.studies.glorot.run import build_model

HIDDEN_LAYERS, UNITS, EPOCHS = 3, 24, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["--hidden_layers", str(HIDDEN_LAYERS), "--units", str(UNITS), "--epochs", str(EPOCHS),
                 "--steps_per_epoch", "25", "--lr", "0.05", "--seed", "4", "--name", "rec", "--output_dir", str(runs)]) == 0
    return str(runs / "shapeset" / "rec")


def numpy_pass(kernels, biases, x, y):
    """The paper's quantities by hand: s, z, per-example dC/ds and dL/dW for a tanh net with softmax output."""
    count = len(kernels)
    s, z = [], [x]
    for i in range(count):
        s.append(z[-1] @ kernels[i] + biases[i])
        if i < count - 1:
            z.append(np.tanh(s[-1]))
    logits = s[-1] - s[-1].max(axis=1, keepdims=True)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    delta = [p - y]  # dC_n/ds for softmax + cross-entropy
    for i in range(count - 1, 0, -1):
        delta.insert(0, (delta[0] @ kernels[i].T) * (1 - z[i] ** 2))
    kernel_gradients = [z[i].T @ delta[i] / len(x) for i in range(count)]
    return s, z[1:] + [p], delta, kernel_gradients


def test_epoch0_is_the_untrained_network_and_one_pass_gives_every_quantity(run):
    config = json.loads(open(os.path.join(run, "config.json")).read())
    assert record_epochs(run, "activations") == list(range(EPOCHS + 1))
    assert record_epochs(run, "weights") == [0]

    # epoch0's weights are those of a freshly built model with the run's seed: no update happened before.
    keras.utils.set_random_seed(config["seed"])
    fresh = build_model(resolve(GlorotConfig(hidden_layers=HIDDEN_LAYERS, units=UNITS, seed=config["seed"])), 1024, 9)
    weights = read_record(run, "weights", 0)
    names = [f"dense_{i}" for i in range(1, HIDDEN_LAYERS + 2)]
    for name in names:
        np.testing.assert_array_equal(weights[f"{name}_kernel"], fresh.get_layer(name).kernel.numpy())

    probe = DATASETS.build("shapeset", seed=config["seed"]).validation.flat().head(config["probe_size"])
    s, z, delta, kernel_gradients = numpy_pass([weights[f"{n}_kernel"] for n in names],
                                               [weights[f"{n}_bias"] for n in names], probe.x, probe.y)
    activations = read_record(run, "activations", 0)
    preactivations = read_record(run, "preactivations", 0)
    backprop = read_record(run, "backprop_gradients", 0)
    gradients = read_record(run, "gradients", 0)
    for i, name in enumerate(names):
        np.testing.assert_allclose(preactivations[name], s[i], atol=1e-5)
        np.testing.assert_allclose(activations[name], z[i], atol=1e-5)
        np.testing.assert_allclose(backprop[name], delta[i], atol=1e-5)
        np.testing.assert_allclose(gradients[f"{name}_kernel"], kernel_gradients[i], atol=1e-6)
        np.testing.assert_allclose(gradients[f"{name}_bias"], delta[i].mean(axis=0), atol=1e-6)
    assert activations["dense_1"].shape == (config["probe_size"], UNITS)
    # training moved the weights, and later records show it
    assert not np.allclose(read_record(run, "activations", EPOCHS)["dense_1"], activations["dense_1"], atol=1e-4)


def test_record_files_keep_xavier_init_layout(run):
    with h5py.File(os.path.join(run, "activations.h5"), "r") as f:
        assert sorted(f) == [f"epoch{e}" for e in range(EPOCHS + 1)]
        assert sorted(f["epoch1"]) == [f"dense_{i}" for i in range(1, HIDDEN_LAYERS + 2)]
    with h5py.File(os.path.join(run, "gradients.h5"), "r") as f:
        assert f["epoch2"]["dense_2_kernel"].shape == (UNITS, UNITS)


@pytest.mark.parametrize("dtype,compression", [("float32", None), ("float32", "gzip"), ("float16", "lzf")])
def test_records_round_trip(tmp_path, dtype, compression):
    rng = np.random.default_rng(0)
    writer = RecordWriter(str(tmp_path), ProbeRecord.KINDS, dtype=dtype, compression=compression)
    written = {}
    for epoch in (0, 3, 6):
        written[epoch] = {kind: {"dense_1": rng.normal(size=(7, 5)).astype(np.float32)} for kind in ProbeRecord.KINDS}
        assert writer.write(epoch, written[epoch]) > 0
    assert record_epochs(str(tmp_path), "gradients") == [0, 3, 6]
    for epoch, groups in written.items():
        for kind, arrays in groups.items():
            expected = arrays["dense_1"].astype(dtype).astype(np.float32)
            np.testing.assert_array_equal(read_record(str(tmp_path), kind, epoch)["dense_1"], expected)


def test_a_record_cut_short_is_never_seen(tmp_path, monkeypatch):
    writer = RecordWriter(str(tmp_path), ProbeRecord.KINDS)
    good = {"activations": {"dense_1": np.ones((4, 3), np.float32)}}
    writer.write(0, good)
    writer.write(1, good)

    calls = {"n": 0}
    original = h5py.Group.create_dataset

    def crash_on_second_dataset(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed in the middle of a record")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", crash_on_second_dataset)
    with pytest.raises(KeyboardInterrupt):
        writer.write(2, {"activations": {"dense_1": np.ones((4, 3)), "dense_2": np.ones((4, 3))}})
    monkeypatch.undo()

    assert record_epochs(str(tmp_path), "activations") == [0, 1]
    np.testing.assert_array_equal(read_record(str(tmp_path), "activations", 1)["dense_1"], good["activations"]["dense_1"])

    # A record file truncated on disk fails alone, with one line; the others still read.
    path = tmp_path / "records" / "epoch1.h5"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UsageError) as error:
        read_record(str(tmp_path), "activations", 1)
    assert "\n" not in str(error.value)
    np.testing.assert_array_equal(read_record(str(tmp_path), "activations", 0)["dense_1"], good["activations"]["dense_1"])


def test_memory_does_not_grow_with_records(tmp_path):
    writer = RecordWriter(str(tmp_path), ProbeRecord.KINDS)
    arrays = {"activations": {"dense_1": np.ones((300, 1000), np.float32)}}  # 1.2 MB per record
    tracemalloc.start()
    for epoch in range(5):
        writer.write(epoch, arrays)
    after_5 = tracemalloc.get_traced_memory()[0]
    for epoch in range(5, 30):
        writer.write(epoch, arrays)
    after_30 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_30 - after_5 < 200_000, (after_5, after_30)  # 25 more records of 1.2 MB each
