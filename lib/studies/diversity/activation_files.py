"""Learned activation functions on a grid: initlab's files and the original's (reference/diversity.md §1.8, §2.1).

A learned function is known by its values on an increasing grid x (K,); the validation network
interpolates between them (models/learned_activation.py). The original saves an (n, 100) array
with no x values and its loader assumes 50 points (§1.7, defect 3), so initlab writes the grid
as a first comment line that np.loadtxt skips: the original's loader still reads the file.

Accepted by `load`:
- initlab's activations.txt: `# x: x_0 ... x_{K-1}`, then np.savetxt of the (n, K) array;
- initlab's activations.h5 (an epoch table: dataset "f" (rows, n, K), attribute "grid"), last complete row;
- a metalearning run directory (its activations.h5);
- the original's text files (no grid line): 100 columns are on linspace(-5, 5, 100), what its
  Trainer saves; 50 columns on linspace(-5, 5, 50), what its loader assumes.
Every bad file is a one-line UsageError naming the file and the problem.
"""

import dataclasses
import io
import json
import os
import warnings

import h5py
import numpy as np

from lib.errors import UsageError
from lib.storage import atomic
from lib.storage.epoch_table import read_epoch_table

GRID_LINE = "# x:"
GRID_RANGE = (-5.0, 5.0)  # the original samples its functions on [-5, 5] (lib.studies.diversity.networks.GRID_RANGE)
ORIGINAL_GRIDS = {100: "its Trainer's", 50: "its loader's"}  # columns -> whose linspace(-5, 5, K) it is
RUN_FILE = "activations.h5"
BASES = ("sin", "tanh", "elu")


@dataclasses.dataclass(frozen=True)
class LearnedActivations:
    """n learned functions: values[i, k] = f_i(x[k]). `base` (sin/tanh/elu) and `inner_lr` (the learning
    rate of the metalearning's classifier, which validation training reuses) are None when unknown."""

    x: np.ndarray
    values: np.ndarray
    base: str | None
    inner_lr: float | None
    source: str

    @property
    def n(self) -> int:
        return self.values.shape[0]


def save_text(path: str, x, values) -> None:
    """The original's text format (np.savetxt of (n, K), '%.18e') under a `# x:` line with the grid (repr'd)."""
    x = np.asarray(x, dtype=np.float64)
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if x.ndim != 1 or values.ndim != 2 or values.shape[1] != len(x):
        raise ValueError(f"need a grid (K,) and values (n, K); got {x.shape} and {values.shape}")
    text = io.StringIO()
    text.write(f"{GRID_LINE} {' '.join(repr(float(value)) for value in x)}\n")
    np.savetxt(text, values, fmt="%.18e")
    atomic.write_text(path, text.getvalue())


def load(path: str) -> LearnedActivations:
    """The learned functions of a file or run directory in any accepted format (module docstring)."""
    if os.path.isdir(path):
        inner = os.path.join(path, RUN_FILE)
        if not os.path.isfile(inner):
            raise UsageError(f"{path}: a directory without {RUN_FILE}, so not a metalearning run directory")
        return _load_h5(inner)
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file or directory")
    if h5py.is_hdf5(path) or path.endswith(".h5"):
        return _load_h5(path)
    return _load_text(path)


def _load_h5(path: str) -> LearnedActivations:
    try:
        with h5py.File(path, "r") as f:
            x, config = f.attrs.get("grid"), f.attrs.get("config", "{}")
    except OSError as error:
        raise UsageError(f"{path}: unreadable or corrupt HDF5 file ({_first_line(error)})") from None
    try:
        table = read_epoch_table(path).get("f")
    except UsageError as error:
        raise UsageError(_first_line(error)) from None
    if x is None or table is None:
        raise UsageError(f"{path}: not an initlab activations file (needs the dataset 'f' and the attribute 'grid')")
    if table.ndim != 3 or len(table) == 0:
        raise UsageError(f"{path}: no complete row of learned functions (dataset 'f' has shape {table.shape})")
    base, inner_lr = _from_config(config)
    return _checked(path, np.asarray(x, dtype=np.float64).reshape(-1), np.asarray(table[-1], dtype=np.float64),
                    base, inner_lr)


def _load_text(path: str) -> LearnedActivations:
    try:
        with open(path) as f:
            first = f.readline()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns about an empty file; the shape check reports it
            values = np.loadtxt(path, ndmin=2, dtype=np.float64)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        reason = _first_line(error).split("; use")[0]  # NumPy's advice (usecols) does not apply here
        raise UsageError(f"{path}: unreadable or not a numeric table ({reason})") from None
    if values.size == 0:
        raise UsageError(f"{path}: no rows of learned function values")
    columns = values.shape[1]
    if first.startswith(GRID_LINE):
        try:
            x = np.array([float(word) for word in first[len(GRID_LINE):].split()], dtype=np.float64)
        except ValueError:
            raise UsageError(f"{path}: the '{GRID_LINE}' line holds something that is not a number") from None
        base, inner_lr = _from_run_config(os.path.dirname(os.path.abspath(path)))
    else:
        if columns not in ORIGINAL_GRIDS:
            raise UsageError(f"{path}: {columns} columns and no '{GRID_LINE}' grid line; the grid is unknown (only the "
                             f"original's 100- and 50-point grids on [-5, 5] are assumed)")
        x = np.linspace(*GRID_RANGE, columns)
        base, inner_lr = original_metadata(os.path.basename(path))
    return _checked(path, x, values, base, inner_lr)


def _checked(path, x, values, base, inner_lr) -> LearnedActivations:
    if values.ndim != 2 or values.shape[0] == 0:
        raise UsageError(f"{path}: expected an (n, K) array of function values, got shape {values.shape}")
    if len(x) != values.shape[1]:
        raise UsageError(f"{path}: the grid has {len(x)} points but the functions have {values.shape[1]} values")
    if len(x) < 2 or not np.all(np.isfinite(x)) or not np.all(np.diff(x) > 0):
        raise UsageError(f"{path}: the grid must be at least 2 finite, strictly increasing points")
    if not np.all(np.isfinite(values)):
        raise UsageError(f"{path}: the learned functions hold NaN or infinite values")
    return LearnedActivations(x=x, values=values, base=base, inner_lr=inner_lr, source=path)


def original_metadata(name: str) -> tuple[str | None, float | None]:
    """(base, inner_lr) from an original activations file name, split on '_' as its ValidationTrainer does
    (§2.2: activation = [1], inner_lr = [10]), e.g. MNIST1D_sin_2_cuda:0_activations_start_seed_101_inner_lr_0.01_
    outer_lr_0.4_steps_5000_run_0.txt; (None, None) for a name of another shape."""
    parts = name.split("_")
    if len(parts) < 11 or parts[1] not in BASES or parts[8:10] != ["inner", "lr"]:
        return None, None
    try:
        inner_lr = float(parts[10])
    except ValueError:
        return None, None
    return (parts[1], inner_lr) if np.isfinite(inner_lr) and inner_lr > 0 else (None, None)


def _from_config(text) -> tuple[str | None, float | None]:
    """(base, inner_lr) of a diversity run's config JSON; None for what it lacks."""
    try:
        config = json.loads(text)
    except (TypeError, ValueError):
        return None, None
    if not isinstance(config, dict) or config.get("study", "diversity") != "diversity":
        return None, None
    base = config.get("activation") if config.get("activation") in BASES else None
    inner_lr = config.get("inner_lr")
    return base, float(inner_lr) if isinstance(inner_lr, (int, float)) and inner_lr > 0 else None


def _from_run_config(folder: str) -> tuple[str | None, float | None]:
    """An activations.txt inside a run directory: (base, inner_lr) from the config.json beside it."""
    try:
        with open(os.path.join(folder, "config.json")) as f:
            return _from_config(f.read())
    except OSError:
        return None, None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
