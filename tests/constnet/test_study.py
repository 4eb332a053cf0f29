"""The constnet study: train.py's flags, the schedule, the augmentation, and the paper's symmetry claims."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from lib.cli import main, study_parser
from lib.config import from_namespace
from lib.datasets.augment import pad_crop_flip
from lib.initializers.leakynet_codes import GRID
from lib.storage.epoch_table import read_epoch_table
from lib.studies import STUDIES
from lib.studies.constnet.config import ConstnetConfig, default_run_name, gpu_ids, resolve
from lib.studies.constnet.schedules import EpochStepDrops, drop_epochs, rate_at_epoch
from tests.helpers import REPO, run_script

CONSTNET = STUDIES.entry("constnet").build
# A ConstNet small enough for CPU tests: depth 7 (one block per group), widths 16, 16, 32, 64.
SMALL = ["--layers", "7", "--widen-factor", "1", "--batchnorm", "--dataset", "digits"]


def parse(argv):
    return resolve(from_namespace(ConstnetConfig, study_parser(CONSTNET).parse_args(argv)))


def test_readme_command_lines_parse_as_the_original():
    config = parse(["--layers", "16", "--widen-factor", "10", "--batchnorm", "--name", "constnet", "-d", "0:1",
                    "--no-saves", "--epochs", "300"])
    assert (config.layers, config.widen_factor, config.batchnorm, config.name, config.device, config.no_saves,
            config.epochs) == (16, 10, True, "constnet", "0:1", True, 300)
    assert (config.lr, config.batch_size, config.momentum, config.weight_decay, config.sigma_w) == (0.03, 128, 0.9, 5e-4, 0.0)
    assert parse(["--varnet"]).sigma_w == 1.0
    assert parse(["--cudaNoise"]).deterministic  # the original's inverted name: passing it means deterministic
    assert parse(["--droprate", "0.01", "--dropl1"]).dropl1
    leaky = parse(["-a", "leakynet", "--lrelu", "0.01", "--init", "1_ii11_ii11_ii11", "--layers", "16"])
    assert (leaky.arch, leaky.lrelu, default_run_name(leaky)) == ("leakynet", 0.01, "lrnet_1_ii11_ii11_ii11")
    assert parse(["--lr", "0.1", "-b", "64", "--dataset", "cifar100"]).batch_size == 64
    assert default_run_name(parse(["--layers", "16", "--cudaNoise", "--droprate", "0.01"])) == \
        "constnet-16-10-deterministic-drop0.01"
    assert [gpu_ids(text) for text in ("0", "0:1", "2:3", "10:11")] == [[0], [0, 1], [2, 3], [10, 11]]


def test_flag_parsing_does_not_start_tensorflow():
    result = run_script("cli_imports.py", "constnet", "--layers", "15", timeout=60)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"code": 2, "keras": False, "tensorflow": False}


def test_learning_rate_drops_at_the_original_epochs():
    assert drop_epochs(200) == (60, 120, 160)
    assert drop_epochs(300) == (160, 220, 260)
    assert drop_epochs(10) == (3, 6, 8)  # short runs: the same fractions of the run as at 200 epochs
    assert rate_at_epoch(0.03, 59, 200) == 0.03
    assert rate_at_epoch(0.03, 60, 200) == pytest.approx(0.006)
    assert rate_at_epoch(0.03, 300, 300) == pytest.approx(0.03 * 0.008)
    schedule = EpochStepDrops(0.03, steps_per_epoch=5, epochs=10)
    rates = [float(schedule(step)) for step in range(50)]
    expected = [rate_at_epoch(0.03, step // 5 + 1, 10) for step in range(50)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_augmentation_is_a_reflect_padded_crop_possibly_flipped():
    images = np.random.default_rng(0).normal(size=(64, 8, 8, 3)).astype(np.float32)
    out = pad_crop_flip(images, np.random.default_rng(1))
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    flipped = 0
    for image, source in zip(out, padded):
        windows = [(source[top:top + 8, left:left + 8], False) for top in range(9) for left in range(9)]
        windows += [(w[:, ::-1], True) for w, _ in windows]
        matches = [flip for window, flip in windows if np.array_equal(window, image)]
        assert matches, "every output is a window of the padded image, maybe flipped"
        flipped += matches[0]
    assert 16 <= flipped <= 48  # p = 1/2 of 64 images; outside this range has probability < 1e-4
    assert np.array_equal(out, pad_crop_flip(images, np.random.default_rng(1)))


def tensorboard_scalars(folder):
    accumulator = EventAccumulator(folder, size_guidance={"tensors": 0})
    accumulator.Reload()
    return {tag: [float(tensor_util.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()["tensors"]}


def kernels_identical_across_channels(kernel: np.ndarray) -> bool:
    """Every output filter equals filter 0 and every input channel equals channel 0 (Keras layout)."""
    return bool(np.all(kernel == kernel[..., :1]) and np.all(kernel == kernel[..., :1, :]))


def saved_kernels(path) -> list[np.ndarray]:
    """The conv kernels (4-D arrays under layers/) of a Keras .weights.h5 file, read with plain h5py."""
    found = []
    with h5py.File(path, "r") as f:
        f["layers"].visititems(lambda name, node: found.append(node[()])
                               if isinstance(node, h5py.Dataset) and node.ndim == 4 else None)
    return found


def constnet_run(tmp_path, *flags, epochs=2):
    runs = tmp_path / "runs"
    argv = ["constnet", *SMALL, "--epochs", str(epochs), "--output_dir", str(runs), *flags]
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), *argv], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = (runs / "digits").iterdir()
    return run


@pytest.mark.replication
def test_deterministic_constnet_keeps_identical_channels(tmp_path):
    """The paper's claim: without a symmetry-breaking mechanism, ConstNet's channels stay identical."""
    run = constnet_run(tmp_path, "--cudaNoise")
    kernels = saved_kernels(run / "checkpoints" / "last.weights.h5")
    assert len(kernels) == 6 and all(np.any(k != 0) for k in kernels)  # trained: no block conv is still zero
    assert all(kernels_identical_across_channels(k) for k in kernels)  # bitwise
    table = read_epoch_table(str(run / "correlations.h5"))
    assert list(table["epoch"]) == [0, 1, 2]
    forward = {key: values for key, values in table.items() if key.startswith("forward/")}
    assert len(forward) == 7 and all(np.all(values == 1.0) for values in forward.values())
    assert all(np.all(table[key] == 1.0) for key in table if key.startswith("activations/"))
    assert np.all(table["diversity"] == -np.inf)
    scalars = tensorboard_scalars(str(run / "tb"))
    assert scalars["group1_block0_conv/forward"] == [0.0, 0.0, 0.0]  # the logged -ln|rho|
    assert scalars["Diversity"] == [-np.inf] * 3
    assert {"Train/Loss", "Train/Prec@1", "AvgTest/Loss", "AvgTest/Prec@1", "group1_block0_out/activations",
            "logits/backward", "conv1/correlations"} <= set(scalars)
    results = json.loads((run / "results.json").read_text())
    history = read_epoch_table(str(run / "history.h5"))
    assert results["best_test_acc"] == pytest.approx(float(max(history["val_acc"])))
    assert results["final_test_acc"] == pytest.approx(float(history["val_acc"][-1]))


@pytest.mark.replication
@pytest.mark.parametrize("flags", [["--droprate", "0.01"], ["--varnet"]], ids=" ".join)
def test_dropout_or_random_init_breaks_the_symmetry(tmp_path, flags):
    run = constnet_run(tmp_path, "--no-saves", *flags)
    table = read_epoch_table(str(run / "correlations.h5"))
    after_training = {key: values[-1] for key, values in table.items() if key.startswith("forward/group")}
    assert max(after_training.values()) < 1.0  # every block and shortcut conv: filters no longer identical
    assert np.isfinite(table["diversity"][-1])


def test_sweep_runs_the_seven_leakynet_inits_and_prints_one_table(tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["sweep", "--widen-factor", "1", "--epochs", "1", "--steps_per_epoch", "3", "--dataset", "digits",
            "--probe_size", "16", "--output_dir", str(runs)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    table = out[out.index("best test accuracy per --init"):].splitlines()[1:9]
    assert table[0].split()[:3] == ["init", "averaging_layers", "best_test_acc_percent"]
    assert [line.split()[0] for line in table[1:]] == list(GRID)
    assert [int(line.split()[1]) for line in table[1:]] == [0, 0, 1, 3, 5, 7, 13]
    assert sorted(os.listdir(runs / "digits")) == sorted([f"lrnet_{init}" for init in GRID] + ["lrnet_sweep.csv"])
    config = json.loads((runs / "digits" / f"lrnet_{GRID[5]}" / "config.json").read_text())
    assert (config["layers"], config["lrelu"], config["lr"], config["batchnorm"], config["arch"]) == \
        (16, 0.01, 0.03, True, "leakynet")
    assert main(argv) == 2  # the runs exist: refused before anything runs


def test_analyze_draws_the_correlation_curves_of_constnet_runs(tmp_path, capsys):
    run = constnet_run(tmp_path, "--no-saves", "--varnet", epochs=1)
    assert main(["analyze", str(run)]) == 0
    assert sorted(os.listdir(run / "report")) == ["correlation_layers.png", "correlation_summary.csv",
                                                  "correlations.png"]
    glorot = tmp_path / "glorot_run"
    glorot.mkdir()
    (glorot / "config.json").write_text(json.dumps({"activation": "tanh", "init": "standard"}))
    assert main(["analyze", str(run), str(glorot), "--out", str(tmp_path / "mixed")]) == 2
    assert "one study" in capsys.readouterr().err and not (tmp_path / "mixed").exists()
