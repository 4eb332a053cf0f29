"""`experiment.py hessian` on an abc trial: the Lanczos top eigenvalues agree with the exact Hessian of the
trial's network (a width-8 net on digits, 682 parameters); the run path itself, which holds several trials, is
refused in one line."""

import numpy as np
import pytest

from lib.cli import main
from lib.hessian import files

FLAGS = ["abc", "--config", "fc_abc", "-ds", "digits", "--parameterization", "mup", "-bs", "64", "-N", "20",
         "--width", "8", "--n_layers", "3", "--n_trials", "1", "--name", "h"]
PARAMETERS = 64 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10  # fc_abc has biases


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    out = tmp_path_factory.mktemp("abc_hessian")
    assert main([*FLAGS, "--output_dir", str(out)]) == 0
    return out / "digits" / "h"


def test_hessian_of_a_trial_agrees_with_the_exact_one(trial):
    assert main(["hessian", str(trial / "trial_0"), "--top_k", "2", "--exact", "--probes", "2"]) == 0
    whole = files.read(str(trial / "trial_0"), "epoch1_test").whole
    assert whole.size == PARAMETERS
    by_magnitude = whole.exact_eigenvalues[np.argsort(-np.abs(whole.exact_eigenvalues))][:2]
    np.testing.assert_allclose(whole.eigenvalues, by_magnitude, rtol=1e-3)


def test_the_run_path_of_several_trials_is_refused_in_one_line(trial, capsys):
    assert main(["hessian", str(trial)]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "pass one of its trial folders" in error[0]
    assert not (trial / "hessian").exists()
