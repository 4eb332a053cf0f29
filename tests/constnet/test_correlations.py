"""Weight and channel correlations (reference/constnet.md §3) against a brute-force corrcoef."""

import numpy as np
import pytest

from lib.studies.constnet import correlations
from tests.constnet import correlation_oracle as oracle


def brute_force(rows: np.ndarray) -> float:
    """The original's routine: corrcoef of the rows, NaN -> 1, mean of the strict lower triangle."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(rows.astype(np.float64))
    r[np.isnan(r)] = 1.0
    return float(r[np.tril_indices(len(rows), -1)].mean())


@pytest.mark.parametrize("shape", [(7, 20), (40, 9), (3, 1000)])
def test_mean_pair_correlation_matches_corrcoef(shape):
    rng = np.random.default_rng(1)
    rows = rng.normal(size=shape) + rng.normal(size=(1, shape[1]))  # a shared component: rho well above 0
    assert oracle.mean_pair_correlation(rows) == pytest.approx(brute_force(rows), abs=1e-12)


def test_constant_rows_count_as_one():
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(10, 30)).astype(np.float32)
    rows[[2, 5]] = 0.0
    rows[7] = 3.25
    expected = brute_force(rows)
    assert oracle.mean_pair_correlation(rows) == pytest.approx(expected, abs=1e-12)
    assert expected > 0.3  # the 24 of 45 pairs touching a constant row count 1 each


def test_identical_rows_give_exactly_one():
    rows = np.tile(np.random.default_rng(3).normal(size=(1, 50)).astype(np.float32), (64, 1))
    assert oracle.mean_pair_correlation(rows) == 1.0
    assert correlations.negative_log(1.0) == 0.0
    assert correlations.diversity([0.2, 1.0]) == -np.inf
    assert oracle.mean_pair_correlation(np.zeros((5, 4))) == 1.0  # all-zero: all NaN -> 1


def test_row_subsampling_is_bounded_and_seeded():
    rows = np.random.default_rng(4).normal(size=(300, 5))
    a = oracle.mean_pair_correlation(rows, max_rows=50, rng=np.random.default_rng(9))
    b = oracle.mean_pair_correlation(rows, max_rows=50, rng=np.random.default_rng(9))
    assert a == b
    assert abs(a) < 0.1  # independent rows: the mean correlation of a random subset is near 0


def test_weight_rows_follow_the_pytorch_layout():
    """Keras (kh, kw, C_in, C_out) rows equal the original's rows of the (C_out, C_in, kh, kw) tensor, up to element order."""
    kernel = np.random.default_rng(5).normal(size=(3, 3, 4, 6))
    torch_layout = kernel.transpose(3, 2, 0, 1)
    expected = {
        "forward": torch_layout.reshape(6, -1),
        "backward": torch_layout.transpose(1, 0, 2, 3).reshape(4, -1),
        "kernels": torch_layout.reshape(24, 9),
    }
    for measure, rows in expected.items():
        ours = oracle.weight_rows(kernel, measure)
        assert ours.shape == rows.shape
        assert np.allclose(np.sort(ours, axis=1), np.sort(rows, axis=1))
        assert oracle.mean_pair_correlation(ours) == pytest.approx(brute_force(rows), abs=1e-12)
    dense = np.random.default_rng(6).normal(size=(640, 10))
    assert oracle.weight_rows(dense, "forward").shape == (10, 640)
    assert oracle.weight_rows(dense, "backward").shape == (640, 10)


def test_channel_rows_and_diversity_formula():
    features = np.random.default_rng(7).normal(size=(4, 5, 5, 3))
    rows = oracle.channel_rows(features)
    assert rows.shape == (3, 100)
    assert np.array_equal(rows[1], features[..., 1].ravel())
    rhos = [0.5, -0.3]
    assert correlations.diversity(rhos) == pytest.approx(np.log(np.sqrt(1 - 0.25)) + np.log(np.sqrt(1 - 0.09)))
    assert correlations.diversity([*rhos, np.nan]) == correlations.diversity(rhos)  # a one-row layer adds nothing
    assert np.isnan(oracle.mean_pair_correlation(np.ones((1, 9))))


@pytest.mark.parametrize("case", ["random", "constant rows", "identical", "subsampled"])
def test_device_computation_matches_numpy(case):
    """lib.studies.constnet.correlations (keras.ops, float32 sums) agrees with the float64 NumPy routine to 1e-5."""
    rng = np.random.default_rng(8)
    rows = (rng.normal(size=(60, 40)) + rng.normal(size=(1, 40))).astype(np.float32)
    if case == "constant rows":
        rows[[1, 7]] = 0.0
        rows[9] = 2.5
    if case == "identical":
        rows[:] = rows[0]
    max_rows = 25 if case == "subsampled" else 5000
    expected = oracle.mean_pair_correlation(rows, max_rows=max_rows, rng=np.random.default_rng(1))
    got = correlations.mean_pair_correlation(rows, max_rows=max_rows, rng=np.random.default_rng(1))
    assert got == pytest.approx(expected, abs=1e-5)
    if case == "identical":
        assert got == 1.0
    kernel = rng.normal(size=(3, 3, 4, 6)).astype(np.float32)
    for measure in correlations.WEIGHT_MEASURES:
        np.testing.assert_array_equal(correlations.weight_rows(kernel, measure),
                                      oracle.weight_rows(kernel, measure))
    features = rng.normal(size=(2, 3, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(correlations.channel_rows(features), oracle.channel_rows(features))


def test_nearly_identical_rows_keep_their_tiny_distance_from_one():
    """ConstNet just after the symmetry breaks: rows differ by 1e-4 of their spread, 1 - rho ~ 1e-8."""
    rng = np.random.default_rng(9)
    base = rng.normal(size=(1, 500))
    rows = base + 1e-4 * rng.normal(size=(40, 500))
    exact = 1 - brute_force(rows)
    assert 1e-9 < exact < 1e-7
    assert 1 - oracle.mean_pair_correlation(rows) == pytest.approx(exact, rel=1e-6)
    device = 1 - correlations.mean_pair_correlation(rows.astype(np.float32))
    assert device == pytest.approx(exact, rel=2e-2)  # float32 rows: their own rounding is ~1e-7 of the spread
