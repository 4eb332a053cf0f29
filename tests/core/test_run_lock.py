"""One writer per run (DESIGN.md, principle 9): while a process writes a run, neither `--resume` nor
`--overwrite` from another process may touch it; the lock dies with its process, even by SIGKILL."""

import json
import os
import subprocess
import sys
import time

from lib.cli import main
from lib.runs.run_dir import lock_directory
from tests.helpers import REPO

ARGV = ["--units", "16", "--epochs", "500", "--steps_per_epoch", "200", "--record_every", "0", "--name", "busy"]


def test_a_run_being_written_is_neither_resumed_nor_replaced(tmp_path, capsys):
    writer = subprocess.Popen([sys.executable, os.path.join(REPO, "experiment.py"), *ARGV, "--output_dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = tmp_path / "shapeset" / "busy"
    try:
        deadline = time.time() + 120
        state = run_dir / "checkpoints" / "state.json"
        while not state.exists() and time.time() < deadline:  # epoch 1 complete: every top-level file exists
            time.sleep(0.1)
        assert writer.poll() is None and state.exists()
        for extra in (["--resume"], ["--overwrite"]):
            before = sorted(os.listdir(run_dir)), (run_dir / "argv.txt").read_text()
            assert main([*ARGV, "--output_dir", str(tmp_path), *extra]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "another initlab process" in err, err
            assert (sorted(os.listdir(run_dir)), (run_dir / "argv.txt").read_text()) == before  # a resume adds to argv.txt
        assert json.loads((run_dir / "status.json").read_text())["state"] == "running"
    finally:
        writer.kill()
        writer.wait()
    os.close(lock_directory(str(run_dir)))  # SIGKILL released it
