"""The same study on TensorFlow and on JAX: recorder values agree on the same initial weights;
`--backend`, `--mixed_precision` and the backend checks.

Each backend runs in its own process (Keras fixes its backend at import), whichever backend
this test suite itself runs under.
"""

import json
import os
import subprocess
import sys

import numpy as np

from lib.cli import main
from tests.helpers import REPO, run_script


def record_under(backend, path):
    result = run_script("record_probe.py", str(path), env={"KERAS_BACKEND": backend}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(np.load(path))


def test_recorder_agrees_across_backends(tmp_path):
    tensorflow = record_under("tensorflow", tmp_path / "tf.npz")
    jax = record_under("jax", tmp_path / "jax.npz")
    assert tensorflow.keys() == jax.keys() and len(jax) == 5 * 7  # 5 dense layers x (s, z, dC/ds, dL/dW, dL/db, W, b)
    worst = max(float(np.max(np.abs(tensorflow[key] - jax[key]))) for key in jax)
    assert worst < 1e-5, worst
    assert max(float(np.max(np.abs(jax[key]))) for key in jax if key.startswith("backprop")) > 1e-3  # not all zero


def test_backend_flag_runs_the_study_on_jax(tmp_path):
    argv = ["--backend", "jax", "--dataset", "digits", "--units", "8", "--epochs", "1", "--output_dir", str(tmp_path)]
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), *argv], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "digits").iterdir()
    assert json.loads((run_dir / "config.json").read_text())["backend"] == "jax"
    assert sorted(os.listdir(run_dir / "records")) == ["epoch0.h5", "epoch1.h5"]


def test_a_backend_chosen_too_late_is_one_line(tmp_path, capsys):
    import keras

    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    code = main(["--backend", other, "--dataset", "digits", "--units", "8", "--epochs", "1",
                 "--output_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "before Keras starts" in err


def test_mixed_precision_keeps_the_loss_and_statistics_in_float32(tmp_path):
    import keras

    from lib.storage.epoch_table import read_epoch_table

    try:
        code = main(["constnet", "--layers", "7", "--widen-factor", "1", "--batchnorm", "--varnet", "--dataset",
                     "digits", "--epochs", "1", "--mixed_precision", "--no-saves", "--output_dir", str(tmp_path)])
        assert code == 0
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        from lib.studies.constnet.config import ConstnetConfig, resolve
        from lib.studies.constnet.run import build_model

        model = build_model(resolve(ConstnetConfig(layers=7, widen_factor=1, batchnorm=True)), (8, 8, 1), 10, 1)
        assert model.get_layer("group1_block0_conv").compute_dtype == "bfloat16"
        assert model.get_layer("logits").compute_dtype == "float32"
        assert all(w.dtype == "float32" for w in model.weights)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    (run_dir,) = (tmp_path / "digits").iterdir()
    table = read_epoch_table(str(run_dir / "correlations.h5"))
    assert np.all(np.isfinite(table["forward/group1_block0_conv"]))
    history = read_epoch_table(str(run_dir / "history.h5"))
    assert np.isfinite(history["loss"][0])
