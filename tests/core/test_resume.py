"""Runs that survive: SIGKILL at several moments (also in the middle of h5 writes), --resume,
and the result equals the uninterrupted run bit for bit; divergence; SIGTERM / SIGINT.

Each run is a real `experiment.py` process. A kill "in the middle of a write" is made by a
small wrapper that patches h5py in the child process only: when the named file is being
written and its N-th dataset is created, the process sends itself SIGKILL.
"""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from lib.storage.epoch_table import is_epoch_table, read_epoch_table
from lib.storage.records import read_record, record_epochs
from tests.helpers import REPO, SCRIPTS

# --hessian_every 2: hessian_history.h5 has rows every second epoch, cut back to the checkpoint like the others
GLOROT = ["--units", "24", "--epochs", "4", "--steps_per_epoch", "25", "--probe_size", "40", "--seed", "7",
          "--hessian_every", "2", "--hessian_examples", "50"]
# A ConstNet with dropout: the resumed run must also continue the dropout masks' random stream.
CONSTNET = ["constnet", "--layers", "7", "--widen-factor", "1", "--batchnorm", "--droprate", "0.1", "--dataset",
            "digits", "--epochs", "4", "--steps_per_epoch", "6", "--probe_size", "32", "--cudaNoise", "--seed", "3"]
# Metalearning: 4 outer steps of 8 inner steps; every outer step draws its classifier, data order and noise.
DIVERSITY = ["diversity", "--n_activations", "2", "--inner_hidden_size", "12", "--outer_hidden_size", "6",
             "--inner_batch_size", "500", "--epochs", "1", "--steps", "4", "--checkpoint_every", "1", "--seed", "5"]
# A WN ResNet with BatchNorm, data-dependent init, gradient accumulation, momentum, a warmup and a drop:
# the resumed run must continue the schedule's counter, the accumulator and the best-validation weights.
WEIGHTNORM = ["weightnorm", "--dataset", "digits", "--nn", "resnet", "--hidden_size", "4", "--num_blocks", "1",
              "--batch_norm", "--weight_norm", "--init", "he_datadep", "--batch_size", "256", "--mini_batch_size", "128",
              "--momentum", "0.9", "--lr", "0.05", "--warmup_epochs", "1", "--lr_annealing_type", "2",
              "--num_epochs", "4", "--seed", "6"]


def run(argv, output_dir=None, kill_at="", timeout=600):
    where = [] if output_dir is None else ["--output_dir", str(output_dir)]
    command = [sys.executable, os.path.join(SCRIPTS, "kill_during_write.py"), kill_at, *argv, *where]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def only_run_dir(output_dir):
    (dataset,) = output_dir.iterdir()
    (run_dir,) = [path for path in dataset.iterdir() if path.is_dir()]
    return run_dir


def final_variables(run_dir):
    with open(run_dir / "checkpoints" / "state.json") as f:
        state = json.load(f)
    with h5py.File(run_dir / "checkpoints" / state["file"], "r") as f:
        return state["epoch"], {f"{group}/{key}": f[group][key][()] for group in f for key in f[group]}


def assert_same_run(resumed, uninterrupted, record_kinds):
    epoch, variables = final_variables(resumed)
    assert (epoch, variables.keys()) == final_variables(uninterrupted)[0:1] + (variables.keys(),)
    reference = final_variables(uninterrupted)[1]
    assert all(np.array_equal(variables[key], reference[key]) for key in reference)  # bitwise
    for table in ("history.h5", "correlations.h5", "activations.h5", "hessian_history.h5"):  # glorot's activations.h5 is a record index
        if (uninterrupted / table).exists() and is_epoch_table(str(uninterrupted / table)):
            ours, theirs = read_epoch_table(str(resumed / table)), read_epoch_table(str(uninterrupted / table))
            assert ours.keys() == theirs.keys()
            for key in theirs:
                np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{table} {key}")
    assert (resumed / "history.csv").read_text() == (uninterrupted / "history.csv").read_text()
    for kind in record_kinds:
        assert record_epochs(str(resumed), kind) == record_epochs(str(uninterrupted), kind)
        for epoch in record_epochs(str(uninterrupted), kind):
            ours, theirs = read_record(str(resumed), kind, epoch), read_record(str(uninterrupted), kind, epoch)
            assert ours.keys() == theirs.keys()
            assert all(np.array_equal(ours[key], theirs[key]) for key in theirs), (kind, epoch)
    assert not [name for _, _, names in os.walk(resumed) for name in names if name.endswith(".partial")]
    status, whole = (json.loads((path / "status.json").read_text()) for path in (resumed, uninterrupted))
    assert (status["state"], status["last_epoch"]) == ("done", whole["last_epoch"])
    if (uninterrupted / "results.json").exists():  # the final evaluation too (weightnorm's: the best epoch's weights)
        assert json.loads((resumed / "results.json").read_text()) == json.loads((uninterrupted / "results.json").read_text())


@pytest.mark.parametrize("study, argv, kills, record_kinds", [
    ("glorot", GLOROT,
     # mid-write of the epoch-2 record, of the epoch-3 checkpoint, of the epoch-4 history row
     ["records/epoch2.h5.partial@7", "checkpoints/epoch3.h5.partial@4", "history.h5.partial@3"],
     ("activations", "preactivations", "backprop_gradients", "gradients", "weights")),
    ("constnet", CONSTNET,
     # mid-write of the epoch-1 correlations row, of the epoch-2 checkpoint
     ["correlations.h5.partial@5", "checkpoints/epoch2.h5.partial@9"], ()),
    ("diversity", DIVERSITY,
     # mid-write of the step-2 history row, of the step-3 checkpoint (activation networks, then momentum)
     ["history.h5.partial@9", "checkpoints/epoch3.h5.partial@5"], ()),
    ("weightnorm", WEIGHTNORM,
     # mid-write of the first best-validation weights (epoch 1), of the epoch-3 checkpoint
     ["best_validation.weights.h5@4", "checkpoints/epoch3.h5.partial@6"], ()),
])
def test_killed_and_resumed_run_equals_the_uninterrupted_run(tmp_path, study, argv, kills, record_kinds):
    whole = run(argv, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    uninterrupted = only_run_dir(tmp_path / "whole")

    output_dir = tmp_path / "killed"
    first = run(argv, output_dir, kill_at=kills[0])
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    run_dir = only_run_dir(output_dir)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "running"  # SIGKILL: no chance to say more
    for kill_at in kills[1:]:
        again = run(["resume", str(run_dir)], kill_at=kill_at)
        assert again.returncode == -signal.SIGKILL, again.stderr[-2000:]
    # Killed from outside too, once the resumed run is under way, then the last resume runs to the end.
    lines = len((run_dir / "argv.txt").read_text().splitlines())
    outside = subprocess.Popen([sys.executable, os.path.join(REPO, "experiment.py"), "resume", str(run_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len((run_dir / "argv.txt").read_text().splitlines()) == lines and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    outside.kill()
    outside.wait()
    final = run([*argv, "--resume"], output_dir)
    assert final.returncode == 0, final.stderr[-2000:]
    assert_same_run(run_dir, uninterrupted, record_kinds)
    commands = (run_dir / "argv.txt").read_text().splitlines()  # the first command, then each resume that got going
    assert "--resume" not in commands[0] and "--resume" in commands[-1] and len(commands) >= 3


def test_huge_learning_rate_diverges_with_readable_files(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), *GLOROT, "--lr", "1e20", "--activation", "relu",
                             "--output_dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 3, result.stderr[-2000:]
    ours = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # TensorFlow's notices aside
    assert len(ours) == 1 and result.stderr.splitlines()[-1] == ours[0]
    assert "diverged: loss is nan in epoch 1" in ours[0]  # glorot's ~3 ms updates are checked once per epoch
    run_dir = only_run_dir(tmp_path)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "diverged" and "epoch 1" in status["reason"] and status["last_epoch"] == 0
    history = read_epoch_table(str(run_dir / "history.h5"))
    assert len(history["loss"]) == 1 and np.isnan(history["loss"][0])  # the epoch it stopped in, flagged by NaN
    assert record_epochs(str(run_dir), "activations") == [0, 1]  # readable
    assert not (run_dir / "checkpoints").exists()  # no checkpoint of diverged weights


def test_constnet_divergence_stops_after_the_update(tmp_path):
    argv = [*CONSTNET, "--lr", "1e8", "--droprate", "0", "--varnet", "--epochs", "3", "--output_dir", str(tmp_path)]
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), *argv], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 3, result.stderr[-2000:]
    status = json.loads((only_run_dir(tmp_path) / "status.json").read_text())
    assert status["state"] == "diverged" and "at update" in status["reason"], status
    update = int(status["reason"].split("at update ")[1].split()[0])
    history = read_epoch_table(str(only_run_dir(tmp_path) / "history.h5"))
    assert len(history["loss"]) == (update - 1) // 6 + 1  # stopped in the epoch of that update, not later
    table = read_epoch_table(str(only_run_dir(tmp_path) / "correlations.h5"))
    assert table["epoch"][0] == 0  # readable


@pytest.mark.parametrize("signal_number, exit_code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_cleanly_and_the_run_resumes(tmp_path, signal_number, exit_code):
    argv = [*GLOROT, "--epochs", "6", "--steps_per_epoch", "400"]  # epochs long enough to be interrupted in
    process = subprocess.Popen([sys.executable, os.path.join(REPO, "experiment.py"), *argv, "--output_dir",
                                str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(tmp_path.glob("*/*/checkpoints/state.json")):
        time.sleep(0.2)
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=120)
    assert process.returncode == exit_code, err[-2000:]
    run_dir = only_run_dir(tmp_path)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and status["last_epoch"] >= 1, status
    assert "--resume" in err.splitlines()[-1]
    history = read_epoch_table(str(run_dir / "history.h5"))  # readable, whole epochs only
    assert len(history["loss"]) >= status["last_epoch"]
    resumed = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), "resume", str(run_dir)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(read_epoch_table(str(run_dir / "history.h5"))["loss"]) == 6


def snapshot(folder):
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A small finished glorot run on digits, made once for the refusal tests below."""
    from lib.cli import main

    output_dir = tmp_path_factory.mktemp("runs")
    assert main(["--dataset", "digits", "--units", "8", "--epochs", "2", "--output_dir", str(output_dir)]) == 0
    return output_dir, only_run_dir(output_dir)


@pytest.mark.parametrize("argv, hint", [
    (["--dataset", "digits", "--units", "8", "--epochs", "3", "--lr", "0.01", "--resume"],
     "different configuration: epochs 2 -> 3; lr 0.001 -> 0.01"),
    (["--dataset", "digits", "--units", "8", "--epochs", "2", "--resume"], "is done (2 epochs); nothing to resume"),
    (["resume", "{run}"], "is done (2 epochs); nothing to resume"),
    (["resume", "{runs}"], "is not a run directory"),
])
def test_refused_resume_is_one_line_and_changes_nothing(finished_run, capsys, argv, hint):
    from lib.cli import main

    output_dir, run_dir = finished_run
    before = snapshot(output_dir)
    argv = [arg.format(run=run_dir, runs=output_dir) for arg in argv]
    code = main(argv if argv[0] == "resume" else [*argv, "--output_dir", str(output_dir)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and hint in err, err
    assert snapshot(output_dir) == before
