"""The same glorot run on one device and under MirroredStrategy / DataParallel over two logical CPU
devices; prints one JSON line of differences (tests/glorot/test_mirrored.py)."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

from lib.backend import distribute

distribute.split_cpu(2)
import numpy as np

from lib.studies.glorot.config import GlorotConfig, resolve
from lib.studies.glorot.run import load_data, train

config = resolve(GlorotConfig(units=64, epochs=2, steps_per_epoch=15, seed=3))
config, splits = load_data(config)
single, single_results = train(config, splits, verbose=0)
strategy = distribute.cpu_replicas(2)
from lib.config import to_json
from lib.runs.run_dir import RunDirectory
from lib.storage.records import record_epochs

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
