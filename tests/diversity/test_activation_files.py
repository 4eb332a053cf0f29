"""Learned-activation files (lib/studies/diversity/activation_files.py): initlab's text and h5 files, run
directories and the original's headerless text files load with the right grid and metadata; every bad
file is one UsageError line naming the file."""

import json
import os

import h5py
import numpy as np
import pytest

from lib.errors import UsageError
from lib.storage.epoch_table import EpochTableWriter
from lib.studies.diversity import activation_files
from lib.studies.diversity.activation_files import load, original_metadata, save_text

# The original's file name (reference/diversity.md §1.6): sin base, n = 2, inner lr 0.01.
ORIGINAL_NAME = "MNIST1D_sin_2_cuda:0_activations_start_seed_101_inner_lr_0.01_outer_lr_0.4_steps_5000_run_0.txt"


def functions(n: int, points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-5, 5, points)
    return x, np.sin(x) + 0.2 * np.random.default_rng(seed).normal(size=(n, points))


def write_activations_h5(path, rows: list[np.ndarray], x, config: dict) -> None:
    """An activations.h5 as a metalearning run writes it: an epoch table with the grid as attribute."""
    writer = EpochTableWriter(str(path), config_json=json.dumps(config), kind="activations", first_epoch=0)
    writer.attrs["grid"] = x
    for row in rows:
        writer.append({"f": row})


def test_save_text_writes_the_original_format_under_a_grid_line(tmp_path):
    x, values = functions(3, 100)
    path = tmp_path / "activations.txt"
    save_text(str(path), x, values)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# x: ") and [float(word) for word in first[5:].split()] == list(x)
    np.testing.assert_array_equal(np.loadtxt(path), values)  # the original's loader reads it unchanged
    loaded = load(str(path))
    np.testing.assert_array_equal(loaded.x, x)  # repr'd grid and '%.18e' values round-trip exactly
    np.testing.assert_array_equal(loaded.values, values)
    assert (loaded.base, loaded.inner_lr, loaded.n, loaded.source) == (None, None, 3, str(path))


def test_a_single_function_is_one_row_and_a_non_uniform_grid_is_kept(tmp_path):
    x = np.array([-5.0, -1.0, -0.5, 0.0, 2.0, 5.0])
    path = tmp_path / "one.txt"
    save_text(str(path), x, np.cos(x))
    assert np.loadtxt(path).ndim == 1  # the original's n = 1 case
    loaded = load(str(path))
    assert loaded.values.shape == (1, 6)
    np.testing.assert_array_equal(loaded.x, x)


def test_text_file_in_a_run_directory_takes_base_and_lr_from_its_config(tmp_path):
    x, values = functions(2, 100)
    save_text(str(tmp_path / "activations.txt"), x, values)
    (tmp_path / "config.json").write_text(json.dumps({"study": "diversity", "activation": "elu", "inner_lr": 0.03}))
    loaded = load(str(tmp_path / "activations.txt"))
    assert (loaded.base, loaded.inner_lr) == ("elu", 0.03)


def test_h5_file_and_run_directory_give_the_last_complete_row(tmp_path):
    x, first = functions(2, 20, seed=1)
    _, last = functions(2, 20, seed=2)
    write_activations_h5(tmp_path / "activations.h5", [first, last], x,
                         {"study": "diversity", "activation": "tanh", "inner_lr": 0.02})
    for path in (tmp_path / "activations.h5", tmp_path):
        loaded = load(str(path))
        np.testing.assert_array_equal(loaded.values, last)
        np.testing.assert_array_equal(loaded.x, x)
        assert (loaded.base, loaded.inner_lr) == ("tanh", 0.02)
    with h5py.File(tmp_path / "activations.h5", "a") as f:
        f.attrs["epochs_complete"] = 1  # the second row is still being written
    np.testing.assert_array_equal(load(str(tmp_path)).values, first)


@pytest.mark.parametrize("columns", [100, 50])
def test_original_files_get_the_grid_their_column_count_implies(tmp_path, columns):
    values = np.random.default_rng(3).normal(size=(2, columns))
    path = tmp_path / ORIGINAL_NAME
    np.savetxt(path, values, fmt="%.18e")
    loaded = load(str(path))
    np.testing.assert_array_equal(loaded.x, np.linspace(-5, 5, columns))
    np.testing.assert_array_equal(loaded.values, values)
    assert (loaded.base, loaded.inner_lr) == ("sin", 0.01)


def test_original_single_row_file_with_another_name_has_no_metadata(tmp_path):
    path = tmp_path / "learned.txt"
    np.savetxt(path, np.arange(100.0)[None], fmt="%.18e")
    loaded = load(str(path))
    assert loaded.values.shape == (1, 100) and (loaded.base, loaded.inner_lr) == (None, None)


def test_original_metadata_follows_the_original_name_split():
    assert original_metadata(ORIGINAL_NAME) == ("sin", 0.01)
    assert original_metadata(ORIGINAL_NAME.replace("_sin_", "_tanh_").replace("0.01", "0.05")) == ("tanh", 0.05)
    assert original_metadata("activations.txt") == (None, None)
    assert original_metadata(ORIGINAL_NAME.replace("_sin_", "_relu_")) == (None, None)
    assert original_metadata(ORIGINAL_NAME.replace("0.01", "fast")) == (None, None)


def _text(content: str):
    def make(folder):
        (folder / "bad.txt").write_text(content)
        return folder / "bad.txt"
    return make


def _header(grid: str, values: str):
    return _text(f"# x: {grid}\n{values}\n")


def _h5(rows, grid=True, name="bad.h5"):
    def make(folder):
        writer = EpochTableWriter(str(folder / name), kind="activations", first_epoch=0)
        if grid:
            writer.attrs["grid"] = np.linspace(-5, 5, 4)
        for row in rows:
            writer.append({"f": row})
        writer.flush()
        return folder / name
    return make


def _truncated_h5(folder):
    path = _h5([np.zeros((1, 4))])(folder)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    return path


def _binary(folder):
    (folder / "bad.txt").write_bytes(bytes(range(256)) * 4)
    return folder / "bad.txt"


BAD_FILES = {
    "missing": (lambda folder: folder / "absent.txt", "no such file"),
    "directory without activations.h5": (lambda folder: folder, "activations.h5"),
    "non-numeric": (_text("1.0 2.0 abc\n"), "not a numeric table"),
    "ragged rows": (_text("1 2 3\n1 2\n"), "not a numeric table"),
    "binary": (_binary, "not a numeric table"),
    "empty": (_text(""), "no rows"),
    "unknown column count": (_text(" ".join(["0.5"] * 37) + "\n"), "37 columns"),
    "header length": (_header("-1 0 1", "1 2 3 4"), "3 points but the functions have 4"),
    "header not increasing": (_header("0 1 1 2", "1 2 3 4"), "strictly increasing"),
    "header not numeric": (_header("0 one 2", "1 2 3"), "not a number"),
    "NaN": (_header("0 1 2", "1 nan 3"), "NaN or infinite"),
    "Inf": (_text(" ".join(["1.0"] * 49 + ["inf"]) + "\n"), "NaN or infinite"),
    "truncated h5": (_truncated_h5, "corrupt HDF5"),
    "h5 without grid": (_h5([np.zeros((1, 4))], grid=False), "not an initlab activations file"),
    "h5 with no row": (_h5([]), "not an initlab activations file"),
    "h5 NaN": (_h5([np.full((1, 4), np.nan)]), "NaN or infinite"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_every_bad_file_is_one_line_naming_it(tmp_path, case):
    make, problem = BAD_FILES[case]
    path = str(make(tmp_path))
    with pytest.raises(UsageError) as error:
        load(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(path) and problem in message, message


def test_save_text_rejects_mismatched_shapes(tmp_path):
    with pytest.raises(ValueError):
        save_text(str(tmp_path / "a.txt"), np.linspace(-5, 5, 4), np.zeros((2, 5)))
    assert not os.listdir(tmp_path)


def test_the_assumed_original_grid_range_is_the_networks_one():
    from lib.studies.diversity import networks

    assert activation_files.GRID_RANGE == networks.GRID_RANGE
