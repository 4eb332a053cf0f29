"""The sweep engine on a simulated two-node Ray cluster (reference/scaleout.md): a node killed in
the middle of a run, then the sweep driver killed and started again. Every run must end done, with
every epoch in its history exactly once, no run started again once done, and no experiment.py
process left behind.

TensorFlow pass only: the engine never imports Keras and runs each point as a subprocess; what the
backend changes is the run itself, whose kill-and-resume is tested on both backends in
tests/core/test_resume.py. These two tests take about a minute, which the JAX pass would double.
"""

import csv
import signal
import subprocess
import time

import pytest

from lib.environment import active_backend
from tests.helpers import REPO
from tests.sweeps.conftest import run_processes, sweep_command, wait_for
from tests.sweeps.processes import descendants, is_loopback, listening_addresses

pytestmark = pytest.mark.skipif(active_backend() == "jax", reason="the engine is backend-neutral; run on the "
                                "TensorFlow pass only (module docstring)")
EPOCHS = 12
GRID = f"""study: glorot
fixed: {{--dataset: digits, --units: 8, --epochs: {EPOCHS}, --steps_per_epoch: 100, --record_every: 0}}
axes:
  --lr: [0.1, 0.05]
seeds: [0, 1]
"""
RUN_TIMEOUT_S = 400


def write_grid(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(GRID)
    return str(path)


def history_epochs(run) -> list[int]:
    with open(run / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def epochs_done(run) -> int:
    try:
        return len(history_epochs(run))
    except (OSError, KeyError, ValueError):
        return 0


def attempts(log) -> list[str]:
    """The `### initlab sweep:` header lines of a run's log: one per attempt (start, resume, ...)."""
    return [line for line in log.read_text().splitlines() if line.startswith("### initlab sweep:")]


def runs_of(sweep) -> dict:
    return {path.name: path for path in (sweep / "digits").iterdir()} if (sweep / "digits").is_dir() else {}


def check_finished(sweep) -> None:
    """Every planned run done, with epochs 1..EPOCHS in its history exactly once, and no run process left."""
    with open(sweep / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {row["status"] for row in rows} == {"done"}, rows
    for name, run in runs_of(sweep).items():
        assert history_epochs(run) == list(range(1, EPOCHS + 1)), name


def test_a_node_killed_mid_run_the_run_resumes_on_the_other_node(ray_cluster, tmp_path, capsys):
    out = tmp_path / "runs"
    started = time.monotonic()
    driver = subprocess.Popen(sweep_command(write_grid(tmp_path, "node_kill"), "--address", ray_cluster.address,
                                            "--output_dir", str(out)),
                              cwd=REPO, env=ray_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sweep = out / "node_kill"
    try:
        victim = wait_for(lambda: next((run for run in runs_of(sweep).values() if 2 <= epochs_done(run) < EPOCHS), None),
                          RUN_TIMEOUT_S, "a run two epochs in")
        listening = listening_addresses(ray_cluster.processes() | descendants(driver.pid))
        node = attempts(sweep / "logs" / f"{victim.name}.log")[-1].split(" on node ")[1].split()[0]
        epochs_at_kill = epochs_done(victim)
        killed_at = time.monotonic()
        ray_cluster.kill(node)
        output, _ = driver.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        driver.kill()
    finished = time.monotonic()
    ray_cluster.add()  # two worker nodes again for the next test
    assert driver.returncode == 0, output
    assert listening and all(is_loopback(address) for address in listening), listening
    check_finished(sweep)
    victim_attempts = attempts(sweep / "logs" / f"{victim.name}.log")
    assert [line.split()[3] for line in victim_attempts] == ["start", "resume"], victim_attempts
    assert node not in victim_attempts[1]  # resumed on the surviving node
    assert len((victim / "argv.txt").read_text().splitlines()) == 2
    assert f"retry resume {victim.name}" in output
    assert run_processes(out) == []
    with capsys.disabled():
        print(f"\n[node kill] sweep of 4 runs: {finished - started:.1f} s wall; node killed {killed_at - started:.1f} s in "
              f"(run {victim.name} after {epochs_at_kill} of {EPOCHS} epochs); finished {finished - killed_at:.1f} s later")


def test_the_driver_killed_and_started_again_finishes_without_running_anything_twice(ray_cluster, tmp_path, capsys):
    out = tmp_path / "runs"
    grid = write_grid(tmp_path, "driver_kill")
    command = sweep_command(grid, "--address", ray_cluster.address, "--output_dir", str(out))
    sweep = out / "driver_kill"
    started = time.monotonic()
    driver = subprocess.Popen(command, cwd=REPO, env=ray_cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def some_done_and_one_mid_run():
        runs = runs_of(sweep).values()
        done = [run for run in runs if '"done"' in _read(run / "status.json")]
        return done and any(2 <= epochs_done(run) < EPOCHS for run in runs if run not in done) and done

    try:
        done_before = wait_for(some_done_and_one_mid_run, RUN_TIMEOUT_S, "one run done and another two epochs in")
        argv_before = {run.name: (run / "argv.txt").read_text() for run in done_before}
        driver.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        driver.wait()
    finally:
        driver.kill()
    wait_for(lambda: not run_processes(out), 30, "the killed driver's runs to stop")
    stopped = time.monotonic()
    again = subprocess.run(command, cwd=REPO, env=ray_cluster.env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    finished = time.monotonic()
    assert again.returncode == 0, again.stdout + again.stderr
    check_finished(sweep)
    for name, argv in argv_before.items():  # a done run is never started again
        assert (runs_of(sweep)[name] / "argv.txt").read_text() == argv
        assert len(argv.splitlines()) == 1
    resumed = [name for name, run in runs_of(sweep).items() if len((run / "argv.txt").read_text().splitlines()) > 1]
    assert resumed and not set(resumed) & set(argv_before)
    assert run_processes(out) == []
    with capsys.disabled():
        print(f"\n[driver kill] driver SIGKILLed {killed_at - started:.1f} s in ({len(done_before)} run(s) done); its runs "
              f"stopped {stopped - killed_at:.1f} s later; the second driver finished in {finished - stopped:.1f} s "
              f"(resumed {len(resumed)}, skipped {len(done_before)})")


def _read(path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
