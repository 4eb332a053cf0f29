"""Run files follow the user's umask, so collaborators read a run as the umask allows: every file of a
finished run is 0666 & ~umask and every folder 0777 & ~umask (config.json, status.json and argv.txt
were 0600 when they came from tempfile.mkstemp)."""

import os
import stat
import subprocess
import sys

import pytest

from tests.helpers import REPO

ARGV = ["--dataset", "digits", "--units", "8", "--epochs", "2", "--steps_per_epoch", "5", "--probe_size", "20",
        "--hessian_every", "1", "--hessian_examples", "20"]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_file_of_a_run_has_the_umasks_mode(tmp_path, umask):
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), *ARGV, "--output_dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, umask=umask)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "digits").iterdir()
    modes = {str(path.relative_to(tmp_path)): stat.S_IMODE(path.lstat().st_mode) for path in tmp_path.rglob("*")}
    files = {name for name in modes if (tmp_path / name).is_file()}
    assert {f"digits/{run_dir.name}/{name}" for name in ("config.json", "status.json", "argv.txt", "results.json",
                                                          "history.csv", "history.h5", "checkpoints/state.json")} <= files
    assert {name: mode for name, mode in modes.items() if name in files and mode != 0o666 & ~umask} == {}
    assert {name: mode for name, mode in modes.items() if name not in files and mode != 0o777 & ~umask} == {}
