"""The default engine: Ray embedded in the sweep command on this machine. A diverged run (exit code
3) counts as a result; every socket Ray opens is on loopback; its session folder is gone afterwards
and nothing was written under HOME; the same command again finds everything finished and starts
neither Ray nor any run; `analyze` draws the comparison."""

import csv
import os
import subprocess
import time

import pytest

from lib.environment import active_backend
from tests.helpers import REPO
from tests.sweeps.conftest import clean_environment, run_processes, sweep_command, wait_for
from tests.sweeps.processes import descendants, is_loopback, listening_addresses

pytestmark = pytest.mark.skipif(active_backend() == "jax", reason="the engine is backend-neutral (tests/sweeps/test_cluster.py); "
                                "embedded Ray runs on the JAX pass too in tests/constnet's LeakyNet sweep")
GRID = """study: weightnorm
fixed: {--dataset: digits, --nn: mlp, --hidden_size: 8, --weight_norm: true, --num_epochs: 2}
axes:
  --lr: [0.05, 1e8]
columns: [test_acc, epochs_completed]
"""


def test_an_embedded_sweep_counts_a_diverged_run_listens_on_loopback_and_cleans_up(tmp_path, ray_tmpdir, capsys):
    grid, out = tmp_path / "embedded.yaml", tmp_path / "runs"
    grid.write_text(GRID)
    env = {**clean_environment(), "HOME": str(tmp_path / "home"), "RAY_TMPDIR": ray_tmpdir}
    command = sweep_command(str(grid), "--output_dir", str(out))
    started = time.monotonic()
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: run_processes(out), 120, "the first run to start")
        listening = listening_addresses(descendants(driver.pid))
        output, _ = driver.communicate(timeout=300)
    finally:
        driver.kill()
    took = time.monotonic() - started
    assert driver.returncode == 0, output
    assert listening and all(is_loopback(address) for address in listening), listening
    with open(out / "embedded" / "sweep.csv", newline="") as f:
        rows = {row["lr"]: row for row in csv.DictReader(f)}
    assert (rows["0.05"]["status"], rows["0.05"]["epochs"]) == ("done", "2")
    assert rows["1e8"]["status"] == "diverged" and "loss is nan" in rows["1e8"]["reason"]
    assert "end lr=1e8 diverged" in output and "done 2 / running 0 / failed 0 / left 0" in output
    assert os.listdir(ray_tmpdir) == [] and not (tmp_path / "home" / ".ray").exists()  # nothing of Ray's left
    assert run_processes(out) == []

    argv_files = {path: path.read_text() for path in (out / "embedded" / "digits").glob("*/argv.txt")}
    started_again = time.monotonic()
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    again_took = time.monotonic() - started_again
    assert again.returncode == 0 and "] start " not in again.stdout, again.stdout + again.stderr
    assert {path: path.read_text() for path in argv_files} == argv_files

    analyzed = subprocess.run(sweep_command()[:2] + ["analyze", str(out / "embedded")], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
    assert analyzed.returncode == 0, analyzed.stderr
    assert sorted(os.listdir(out / "embedded" / "report")) == ["comparison.png", "summary.csv"]
    assert "lr=1e8" in analyzed.stdout
    with capsys.disabled():
        print(f"\n[embedded] 2 runs, 2 at a time: {took:.1f} s; the same command again: {again_took:.1f} s")
