"""H v of a small MLP with NumPy-made weights and data under the backend KERAS_BACKEND names, saved to
sys.argv[1] (.npy) for tests/hessian/test_hessian_vector.py's cross-backend comparison."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

import keras
import numpy as np

from lib.backend.hessian_vector import HessianVectorProduct

rng = np.random.default_rng(0)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3)])
model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
x = rng.normal(size=(20, 8)).astype("float32")
y = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
hvp = HessianVectorProduct(model, keras.losses.CategoricalCrossentropy(from_logits=True), [(x, y)])
np.save(sys.argv[1], np.stack([hvp(rng.standard_normal(hvp.parameters.size)) for _ in range(3)]))
