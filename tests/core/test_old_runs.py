"""Run directories written before initlab recorded the study in config.json still resume and analyze.

An old run is made the honest way: a real run killed (SIGKILL) in the middle of a checkpoint write,
whose config.json then loses the fields that initlab has added since (`study`, and constnet's
`debug`), exactly as the earlier version wrote it. `resume RUN_DIR` must finish it and `analyze`
must draw its report; the study is recognised from the remaining fields.
"""

import json
import signal

import pytest

from lib.cli import main
from tests.helpers import run_script

GLOROT = ["--units", "16", "--epochs", "2", "--steps_per_epoch", "10", "--probe_size", "20", "--seed", "2"]
CONSTNET = ["constnet", "--layers", "7", "--widen-factor", "1", "--batchnorm", "--dataset", "digits", "--epochs", "2",
            "--steps_per_epoch", "4", "--probe_size", "16", "--seed", "2"]
ADDED_FIELDS = ("study", "debug")  # config.json fields newer than the old run directories


@pytest.mark.parametrize("argv, study", [(GLOROT, "glorot"), (CONSTNET, "constnet")], ids=["glorot", "constnet"])
def test_old_run_directory_resumes_and_analyzes(tmp_path, capsys, argv, study):
    killed = run_script("kill_during_write.py", "checkpoints/epoch2.h5.partial@2", *argv, "--output_dir", str(tmp_path))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (dataset,) = tmp_path.iterdir()
    (run_dir,) = dataset.iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["study"] == study  # what this initlab writes
    (run_dir / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k not in ADDED_FIELDS}))

    assert main(["resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert main(["analyze", str(run_dir), "--out", str(tmp_path / "report")]) == 0
    assert any(path.suffix == ".png" for path in (tmp_path / "report").iterdir())
