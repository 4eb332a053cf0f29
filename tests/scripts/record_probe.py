"""Record one probe pass of a glorot net (4x64) with NumPy-made weights and save every array to
sys.argv[1] (.npz), under whichever backend KERAS_BACKEND names (tests/core/test_backends.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository


import keras
import numpy as np

from lib.backend.gradients import FeedforwardProbe
from lib.studies.glorot.config import GlorotConfig, resolve
from lib.studies.glorot.run import build_model

config = resolve(GlorotConfig(hidden_layers=4, units=64, backend=keras.backend.backend()))
model = build_model(config, 1024, 9)
rng = np.random.default_rng(0)  # the same weights and probe on both backends, made by NumPy
model.set_weights([rng.uniform(-0.1, 0.1, w.shape).astype("float32") for w in model.get_weights()])
x = rng.uniform(-1, 1, (50, 1024)).astype("float32")
y = np.eye(9, dtype="float32")[rng.integers(0, 9, 50)]
record = FeedforwardProbe(model).capture(x, y)
arrays = {f"{kind}/{key}": value for kind, group in record.as_groups(with_weights=True).items()
          for key, value in group.items()}
np.savez(sys.argv[1], **arrays)
