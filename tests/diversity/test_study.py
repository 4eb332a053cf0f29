"""The diversity study's metalearning: Driver.py's flags, the networks as the reference describes them,
the outer update, the run directory and its failure modes (reference/diversity.md §1)."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from lib.cli import main, study_parser
from lib.config import from_namespace
from lib.storage.epoch_table import read_epoch_table
from lib.studies import STUDIES
from lib.studies.diversity import metalearn, networks
from lib.studies.diversity.config import DiversityConfig, default_run_name, resolve
from tests.helpers import REPO, run_script

DIVERSITY = STUDIES.entry("diversity").build
# 8 inner steps of batch 500 on a 40-12-10 classifier, 2 activation networks of width 6
TINY = ["--n_activations", "2", "--inner_hidden_size", "12", "--outer_hidden_size", "6", "--inner_batch_size", "500",
        "--epochs", "1", "--seed", "5"]


def parse(argv):
    return resolve(from_namespace(DiversityConfig, study_parser(DIVERSITY).parse_args(argv)))


def test_driver_command_lines_parse_with_the_original_defaults():
    config = parse([])
    assert (config.activation, config.n_activations, config.inner_batch_size, config.outer_batch_size, config.epochs,
            config.steps, config.inner_lr, config.outer_lr, config.inner_mu, config.outer_mu, config.inner_hidden_size,
            config.outer_hidden_size, config.seed, config.runs, config.dataset, config.metagradient) == \
        ("sin", 1, 200, 1, 5, 300, 0.01, 0.4, 0.8, 0.8, 200, 50, 100, 1, "mnist1d", "unrolled")
    config = parse(["--activation", "elu", "--n_activations", "2", "--dataset", "MNIST1D", "--steps", "5000",
                    "--use_gpu", "--gpu_no", "1", "--output_folder", "out", "--save_curve", "--verbose"])
    assert (config.activation, config.n_activations, config.steps, config.use_gpu, config.gpu_no, config.output_dir,
            config.save_curve, config.verbose) == ("elu", 2, 5000, True, 1, "out", True, True)
    assert default_run_name(config) == "meta_elu_n2_seed100"
    assert parse(["--metagradient", "first_order"]).metagradient == "first_order"


@pytest.mark.parametrize("argv, message", [
    (["--activation", "relu"], "invalid choice: 'relu'"),
    (["--n_activations", "0"], "must be an integer >= 1"),
    (["--inner_mu", "1"], "must be a number in [0, 1)"),
    (["--dataset", "SVHN"], "must be one of MNIST1D, MNIST, CIFAR"),
    (["--dataset", "CIFAR"], "metalearning runs on MNIST1D only"),
    (["--n_activations", "300"], "more than the 200 hidden neurons"),
    (["--validation_mode", "2"], "--validation_mode needs --act_path"),
    (["--validation_mode", "-1"], "must be an activation number k >= 1"),
    (["--act_path", "/nonexistent/acts.txt"], "no such file"),
    (["--metagradient", "second"], "invalid choice: 'second'"),
    (["--debug", "--resume"], "nothing to --resume"),
    (["--inner_batch_size", "5000"], "more than the 4000 training examples"),
    (["--mixed_precision"], "not offered by the diversity study"),
])
def test_bad_flags_are_one_line_and_write_nothing(tmp_path, capsys, argv, message):
    assert main(["diversity", *argv, "--output_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.iterdir())


def test_flag_parsing_does_not_start_tensorflow():
    result = run_script("cli_imports.py", "diversity", "--steps", "0", timeout=60)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"code": 2, "keras": False, "tensorflow": False}


def test_neurons_go_to_activations_in_contiguous_blocks_and_none_is_left_over():
    assert list(networks.block_assignment(6, 2)) == [0, 0, 0, 1, 1, 1]
    assert list(networks.block_assignment(7, 3)) == [0, 0, 0, 1, 1, 2, 2]  # the remainder: one more to the first
    assert np.bincount(networks.block_assignment(200, 3)).tolist() == [67, 67, 66]


def test_initial_networks_follow_pytorch_default_init_and_start_near_the_base():
    rng = np.random.default_rng(0)
    outer = networks.initial_activation_networks(rng, 200, 50)
    assert np.abs(outer["w1"]).max() <= 1 and np.abs(outer["w1"]).max() > 0.99  # U(-1, 1): fan-in 1
    bound = 1 / np.sqrt(50)
    assert np.abs(outer["w2"]).max() <= bound and np.abs(outer["b2"]).max() > 0.9 * bound
    x = np.linspace(-5, 5, 100).astype("float32")
    deviation = np.asarray(networks.activation_values(outer, x, np.zeros((200, 50), "float32"), "sin")) - np.sin(x)
    rms = np.sqrt(np.mean(deviation ** 2, axis=1))
    assert 0.03 < np.median(rms) < 0.12  # reference §1.1: |0.2 g| has RMS median ~0.069 on [-5, 5]


def test_learned_activation_is_base_plus_scaled_network():
    rng = np.random.default_rng(1)
    outer = networks.initial_activation_networks(rng, 2, 3)
    noise = networks.uniform_noise(rng, (2, 3))
    x = rng.normal(size=(4, 6)).astype("float32")
    assignment = networks.block_assignment(6, 2)
    ours = np.asarray(networks.apply_activations(outer, x, noise, assignment, "tanh"))
    for j, i in enumerate(assignment):
        hidden = np.tanh(x[:, j:j + 1] * outer["w1"][i] + outer["b1"][i]) + noise[i]
        expected = np.tanh(x[:, j]) + 0.2 * (hidden @ outer["w2"][i] + outer["b2"][i])
        np.testing.assert_allclose(ours[:, j], expected, rtol=1e-5, atol=1e-6)


def test_outer_update_is_clamped_heavy_ball_sgd():
    state = metalearn.OuterState({"w": np.zeros(3)}, {"w": np.zeros(3)})
    state.update({"w": np.array([0.05, 0.5, -2.0])}, learning_rate=0.4, momentum=0.8)
    np.testing.assert_allclose(state.outer["w"], [-0.02, -0.04, 0.04])  # the gradient clamped to +-0.1
    state.update({"w": np.array([0.0, 0.0, 0.0])}, learning_rate=0.4, momentum=0.8)
    np.testing.assert_allclose(state.momentum["w"], [0.04, 0.08, -0.08])
    assert state.step == 2


def test_each_outer_step_draws_a_fresh_classifier_reproducibly():
    from lib.datasets.splits import Split

    config = parse(TINY)
    train = Split(np.random.default_rng(0).normal(size=(1000, 40)).astype("float32"),
                  np.eye(10, dtype="float32")[np.arange(1000) % 10])
    first, again, second = (metalearn.step_inputs(config, train, step) for step in (1, 1, 2))
    assert first.batches["x"].shape == (2, 500, 40)  # 1,000 examples, batches of 500, one epoch
    np.testing.assert_array_equal(first.inner["w1"], again.inner["w1"])
    assert not np.array_equal(first.inner["w1"], second.inner["w1"])
    np.testing.assert_array_equal(first.state["w1"], np.ones_like(first.inner["w1"]))  # v0 = 1


def test_a_run_writes_every_file_and_the_functions_move(tmp_path):
    assert main(["diversity", *TINY, "--steps", "3", "--checkpoint_every", "2", "--save_curve",
                 "--output_dir", str(tmp_path)]) == 0
    run_dir = tmp_path / "mnist1d" / "meta_sin_n2_seed5"
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["last_epoch"]) == ("done", 3)
    history = read_epoch_table(str(run_dir / "history.h5"))
    assert set(history) == {"outer_loss", "final_inner_loss", "test_acc", "metagradient_norm_1", "metagradient_norm_2",
                            "activation_distance"}
    assert all(len(values) == 3 and np.all(np.isfinite(values)) for values in history.values())
    assert np.all((history["test_acc"] >= 0) & (history["test_acc"] <= 1))
    trajectory = read_epoch_table(str(run_dir / "activations.h5"))["f"]
    with h5py.File(run_dir / "activations.h5") as f:
        grid = f.attrs["grid"]
    assert trajectory.shape == (4, 2, 100) and grid.shape == (100,) and grid[0] == -5 and grid[-1] == 5
    distances = [metalearn.pairwise_distance(row) for row in trajectory]
    np.testing.assert_allclose(distances[1:], history["activation_distance"], rtol=1e-6)
    assert distances[0] > 0 and not np.allclose(trajectory[-1], trajectory[0])  # independent networks, then they move
    text = np.loadtxt(run_dir / "activations.txt")  # the original's loader reads it
    np.testing.assert_allclose(text, trajectory[-1], rtol=1e-12)
    assert (run_dir / "activations.txt").read_text().startswith("# x: -5.0 ")
    assert np.loadtxt(run_dir / "curves" / "outer_losses.txt").shape == (3,)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["outer_loss_last"] == pytest.approx(history["outer_loss"][-1])
    assert sorted(os.listdir(run_dir / "tb"))


def test_debug_runs_and_saves_nothing(tmp_path, capsys):
    assert main(["diversity", *TINY, "--debug", "--output_dir", str(tmp_path)]) == 0
    assert "step 3/3" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_divergence_stops_with_status_and_no_checkpoint_of_it(tmp_path, capsys):
    assert main(["diversity", *TINY, "--steps", "3", "--inner_lr", "1e30", "--output_dir", str(tmp_path)]) == 3
    run_dir = tmp_path / "mnist1d" / "meta_sin_n2_seed5"
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "diverged" and "outer step 1" in status["reason"] and status["last_epoch"] == 0
    assert not (run_dir / "checkpoints").exists()


def test_sigterm_checkpoints_the_step_done_and_resume_finishes(tmp_path):
    command = [sys.executable, os.path.join(REPO, "experiment.py"), "diversity", *TINY, "--steps", "12",
               "--checkpoint_every", "100", "--output_dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "mnist1d" / "meta_sin_n2_seed5"
    deadline = time.time() + 300
    while time.time() < deadline and not (run_dir / "history.csv").exists():
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err[-2000:]
    status = json.loads((run_dir / "status.json").read_text())
    done = len(read_epoch_table(str(run_dir / "history.h5"))["outer_loss"])
    assert status["state"] == "interrupted" and status["last_epoch"] == done >= 1  # checkpointed at once
    assert len(read_epoch_table(str(run_dir / "activations.h5"))["f"]) == done + 1
    resumed = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), "resume", str(run_dir)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(read_epoch_table(str(run_dir / "history.h5"))["outer_loss"]) == 12
