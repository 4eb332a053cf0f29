"""--num_gpus N > 1 trains under MirroredStrategy; on CPU two logical devices stand in for two GPUs.

The logical devices must be configured before TensorFlow initialises, so the comparison runs
in a fresh process: the same glorot run (same seed, same Shapeset stream) trained on one
device and under MirroredStrategy over /cpu:0 and /cpu:1 must end with the same weights.
"""

import json
import subprocess
import sys

from tests.helpers import REPO

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from lib.backend import distribute
distribute.split_cpu(2)
import numpy as np
from lib.studies.glorot.config import GlorotConfig, resolve
from lib.studies.glorot.run import load_data, train

config = resolve(GlorotConfig(units=64, epochs=2, steps_per_epoch=15, seed=3))
config, splits = load_data(config)
single, single_results = train(config, splits, verbose=0)
strategy = distribute.cpu_replicas(2)
import tempfile
from lib.storage.records import record_epochs
from lib.runs.run_dir import RunDirectory
from lib.config import to_json
folder = tempfile.mkdtemp()
run_dir = RunDirectory.create(folder + "/run", overwrite=False, config_json=to_json(config), argv=[])
mirrored, mirrored_results = train(config, splits, strategy=strategy, run_dir=run_dir, verbose=0)
import keras
from lib.studies.glorot.run import build_model
keras.utils.set_random_seed(config.seed)
initial = build_model(config, 1024, splits.num_classes).get_weights()
from lib.backend.gradients import FeedforwardProbe
probe = splits.validation.flat()
records = [FeedforwardProbe(m).capture(probe.x, probe.y) for m in (single, mirrored)]
recorder_diff = max(float(np.max(np.abs(getattr(records[0], kind)[name] - getattr(records[1], kind)[name])))
                    for kind in ("activations", "preactivations", "backprop", "kernel_gradients", "bias_gradients")
                    for name in records[0].layers)
print(json.dumps({
    "recorded_epochs": record_epochs(folder + "/run", "backprop_gradients"),
    "recorder_max_abs_diff": recorder_diff,
    "replicas": strategy.num_replicas_in_sync,
    "max_abs_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), mirrored.get_weights())),
    "test_loss": [single_results["test_loss"], mirrored_results["test_loss"]],
    "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), initial)),
    "variable_type": type(mirrored.weights[0].value).__name__,
    "variable_devices": len(getattr(mirrored.weights[0].value, "sharding", None).device_set)
                        if hasattr(mirrored.weights[0].value, "sharding") else None,
}))
"""


def test_mirrored_strategy_matches_single_device():
    result = subprocess.run([sys.executable, "-c", SCRIPT, REPO], capture_output=True, text=True, timeout=600)
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
