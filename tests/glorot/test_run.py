"""End-to-end runs through the real command line: run directory contents, --debug, no overwrite."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lib.cli import main
from lib.storage.epoch_table import read_epoch_table
from tests.helpers import REPO


def tensorboard_tags(folder):
    accumulator = EventAccumulator(folder, size_guidance={"tensors": 0})
    accumulator.Reload()
    return set(accumulator.Tags()["tensors"])


def test_shapeset_run_writes_the_run_directory(tmp_path):
    runs = tmp_path / "runs"
    argv = ["--xavier", "--units", "32", "--epochs", "2", "--steps_per_epoch", "30", "--output_dir", str(runs)]
    assert main(argv) == 0
    run = runs / "shapeset" / "tanh-xavier-four_layers"
    assert sorted(os.listdir(run)) == ["activations.h5", "argv.txt", "backprop_gradients.h5", "checkpoints", "config.json",
                                       "gradients.h5", "history.csv", "history.h5", "preactivations.h5", "records",
                                       "results.json", "status.json", "tb", "weights.h5"]
    assert sorted(os.listdir(run / "records")) == ["epoch0.h5", "epoch1.h5", "epoch2.h5"]

    config = json.loads((run / "config.json").read_text())
    assert (config["init"], config["hidden_layers"], config["batch_size"], config["steps_per_epoch"]) == \
        ("normalized", 3, 10, 30)
    assert (run / "argv.txt").read_text().split() == ["experiment.py", *argv]
    status = json.loads((run / "status.json").read_text())
    assert (status["state"], status["last_epoch"]) == ("done", 2)

    # history.h5: xavier_init's keys, plain h5py, one row per epoch, same values as the CSV
    with h5py.File(run / "history.h5", "r") as f:
        assert {"loss", "acc", "val_loss", "val_acc"} <= set(f.keys())
        assert json.loads(f.attrs["config"])["dataset"] == "shapeset"
    history = read_epoch_table(str(run / "history.h5"))
    table = pd.read_csv(run / "history.csv")
    assert list(table["epoch"]) == [1, 2]
    for key in ("loss", "acc", "val_loss", "val_acc"):
        assert history[key].shape == (2,) and np.all(np.isfinite(history[key]))
        np.testing.assert_allclose(table[key].to_numpy(), history[key], rtol=1e-12)

    results = json.loads((run / "results.json").read_text())
    assert 0 <= results["test_acc"] <= 1
    assert abs(results["test_error_percent"] - 100 * (1 - results["test_acc"])) < 1e-9

    assert {"epoch_loss", "epoch_acc"} <= tensorboard_tags(str(run / "tb" / "train"))
    assert {"epoch_loss", "epoch_acc"} <= tensorboard_tags(str(run / "tb" / "validation"))

    # A second run of the same command refuses and leaves everything as it was; --overwrite replaces it.
    before = {name: (run / name).read_bytes() for name in ("history.h5", "config.json", "results.json")}
    assert main(argv) == 2
    assert {name: (run / name).read_bytes() for name in before} == before
    assert main([*argv, "--overwrite"]) == 0


def test_array_dataset_run_with_name(tmp_path):
    runs = tmp_path / "runs"
    assert main(["--dataset", "digits", "--units", "16", "--hidden_layers", "2", "--epochs", "3",
                 "--name", "mine", "--output_dir", str(runs)]) == 0
    history = read_epoch_table(str(runs / "digits" / "mine" / "history.h5"))
    assert history["loss"].shape == (3,)
    assert history["loss"][-1] < history["loss"][0]  # plain SGD on digits learns within 3 epochs


def test_debug_run_end_to_end_saves_nothing(tmp_path):
    """The real `--debug` (5 epochs of 1,000 Shapeset updates) in a fresh process; narrow layers keep it fast."""
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), "--debug", "--units", "32"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "5 epochs of 1000 steps" in result.stdout and "Epoch 5/5" in result.stdout
    assert "test error" in result.stdout
    assert os.listdir(tmp_path) == []
