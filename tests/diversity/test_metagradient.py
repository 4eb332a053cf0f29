"""The metagradients of lib.backend.metagradient (reference/diversity.md §1.4), on a tiny configuration
(2 activation networks of width 4, a 5-7-3 classifier, 3 inner steps of batch 4):

- unrolled: equals the central finite differences of the mean inner loss in float64 (rel. <= 1e-4);
- first_order: equals the finite differences of its definition, the loss of the trained classifier
  (held fixed) on the final batch, and differs from the unrolled one;
- TensorFlow and JAX give the same metagradients from the same NumPy-made values (float64: rel. 1e-10;
  float32: rel. 1e-4).
The values come from tests/scripts/metagradient_check.py in a child process (float64 on JAX needs
JAX_ENABLE_X64 before JAX starts); the TensorFlow suite also runs it under JAX to compare.
"""

import numpy as np
import pytest

from lib.environment import active_backend
from tests.helpers import run_script

KEYS = ("w1", "b1", "w2", "b2")


def relative_error(value, reference) -> float:
    return float(np.max(np.abs(value - reference)) / np.max(np.abs(reference)))


def metagradients(folder, backend) -> dict:
    path = folder / f"{backend}.npz"
    result = run_script("metagradient_check.py", str(path), env={"KERAS_BACKEND": backend, "JAX_ENABLE_X64": "1"},
                        timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(np.load(path))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The running backend's values (test_backends_agree computes the other backend's, in the TensorFlow suite)."""
    folder = tmp_path_factory.mktemp("metagradients")
    return {"folder": folder, active_backend(): metagradients(folder, active_backend())}


@pytest.mark.parametrize("method", ["unrolled", "first_order"])
def test_metagradient_matches_finite_differences(results, method):
    arrays = results[active_backend()]
    for key in KEYS:
        assert arrays[f"{method}/{key}"].dtype == np.float64
        assert relative_error(arrays[f"{method}/{key}"], arrays[f"{method}_fd/{key}"]) <= 1e-4, key


def test_unrolled_includes_what_first_order_leaves_out(results):
    arrays = results[active_backend()]
    assert max(relative_error(arrays[f"first_order/{key}"], arrays[f"unrolled/{key}"]) for key in KEYS) > 0.01
    for key in KEYS:  # the same inner training run either way
        np.testing.assert_array_equal(arrays[f"first_order/final_{key}"], arrays[f"unrolled/final_{key}"])


@pytest.mark.skipif(active_backend() != "tensorflow", reason="compared once per pair of suites, in the TensorFlow one")
def test_backends_agree(results):
    tensorflow, jax = results["tensorflow"], metagradients(results["folder"], "jax")
    for key in tensorflow:
        if key.startswith(("unrolled/", "first_order/")):
            assert relative_error(jax[key], tensorflow[key]) <= 1e-10, key
        elif key.startswith("float32/"):
            assert jax[key].dtype == np.float32
            assert relative_error(jax[key], tensorflow[key]) <= 1e-4, key
