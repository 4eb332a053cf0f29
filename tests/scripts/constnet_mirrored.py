"""The same ConstNet run on one device and on two replicas (-d 0:1) over two logical CPU devices;
prints one JSON line of differences (tests/constnet/test_mirrored.py)."""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

from lib.backend import distribute

distribute.split_cpu(2)
import numpy as np

from lib.config import to_json
from lib.runs.run_dir import RunDirectory
from lib.storage.epoch_table import read_epoch_table
from lib.studies.constnet.config import ConstnetConfig, resolve
from lib.studies.constnet.run import build_model, load_data, train

config = resolve(ConstnetConfig(layers=7, widen_factor=1, batchnorm=True, varnet=True, dataset="digits", epochs=1,
                                seed=5, no_saves=True, probe_size=64))
data = load_data(config)
single, single_results = train(config, data, verbose=0)
strategy = distribute.cpu_replicas(2)
folder = tempfile.mkdtemp()
run_dir = RunDirectory.create(folder + "/run", overwrite=False, config_json=to_json(config), argv=[])
mirrored, mirrored_results = train(config, data, strategy=strategy, run_dir=run_dir, verbose=0)
import keras

keras.utils.set_random_seed(config.seed)
initial = build_model(config, data[1].x.shape[1:], data[2], 12).get_weights()
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "max_abs_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), mirrored.get_weights())),
    "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), initial)),
    "test_loss": [single_results["final_test_loss"], mirrored_results["final_test_loss"]],
    "correlation_epochs": read_epoch_table(folder + "/run/correlations.h5")["epoch"].tolist(),
}))
