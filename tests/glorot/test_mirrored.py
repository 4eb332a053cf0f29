"""--num_gpus N > 1 trains under MirroredStrategy; on CPU two logical devices stand in for two GPUs.

The logical devices must be configured before TensorFlow initialises, so the comparison runs
in a fresh process: the same glorot run (same seed, same Shapeset stream) trained on one
device and under MirroredStrategy over /cpu:0 and /cpu:1 must end with the same weights.
"""

import json

from tests.helpers import run_script


def test_mirrored_strategy_matches_single_device():
    result = run_script("glorot_mirrored.py")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    # TensorFlow: mirrored variables; JAX: arrays replicated on both devices.
    assert "Mirrored" in report["variable_type"] or "Distributed" in report["variable_type"] \
        or report["variable_devices"] == 2, report
    # Same data, same initial weights, batch of 10 split 5 + 5: the mean gradient is the same up to float32 rounding.
    assert report["moved"] > 1e-3, report  # training really changed the weights
    assert report["max_abs_diff"] < 1e-5, report
    # The recorder works on a mirrored model (as a callback during fit, and directly) and sees the same network.
    assert report["recorded_epochs"] == [0, 1, 2], report
    assert report["recorder_max_abs_diff"] < 1e-5, report
    assert abs(report["test_loss"][0] - report["test_loss"][1]) < 1e-5, report
