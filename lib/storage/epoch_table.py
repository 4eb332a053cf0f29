"""The one h5 writer and reader of initlab (plain h5py; DESIGN.md, principle 10).

Per-epoch tables (history.h5, correlations.h5) are one 1-D dataset per key, as in
xavier_init's files (`loss`, `acc`, `val_loss`, `val_acc`); a key with slashes
(`forward/conv1`) lives in groups. The writer keeps the rows in memory and after every epoch
writes the whole table to a temporary file that replaces the old one (a table is a few
kilobytes), so a crash at any moment, even SIGKILL in the middle of a write, leaves the
previous complete table: HDF5 files modified in place can be corrupted by a crash.
A row's value may also be an array of fixed shape (the diversity study's learned functions on
a grid, one (n, K) array per outer step): the key's dataset is then (rows, n, K). A writer of
larger tables appends with `write=False` and calls `flush()` at its checkpoints.
"""

import json
import os

import h5py
import numpy as np

from lib.errors import UsageError
from lib.storage import atomic

SCHEMA_VERSION = 1
COMPLETE = "epochs_complete"  # rows in the table (kept for readers of earlier initlab files)
FIRST_EPOCH = "first_epoch"
COLUMNS = "columns"
EVERY = "epoch_every"  # rows at first_epoch, first_epoch + every, ... (absent: every epoch)


class EpochTableWriter:
    """Appends one row of named scalars per epoch to an h5 file.

    `first_epoch` is the epoch of row 0 (history: 1, after the first epoch; correlations: 0,
    the initialization), `every` the epochs between rows (--hessian_every). With `resume`, an
    existing file is continued after its rows.
    """

    def __init__(self, path: str, *, config_json: str = "{}", kind: str = "history", first_epoch: int = 1,
                 every: int = 1, resume: bool = False):
        self.path = path
        self.attrs = {"schema_version": SCHEMA_VERSION, "kind": kind, "config": config_json, FIRST_EPOCH: first_epoch,
                      EVERY: every}
        self.columns: dict[str, list[float]] = {}
        self.rows = 0
        if resume and os.path.exists(path):
            with h5py.File(path, "r") as f:
                self.attrs.update({key: f.attrs[key] for key in f.attrs if key not in (COMPLETE, COLUMNS)})
                order = json.loads(f.attrs.get(COLUMNS, "[]"))
            table = read_epoch_table(path)
            self.columns = {key: [_value(v) for v in table[key]] for key in [*order, *sorted(set(table) - set(order))]}
            self.rows = len(next(iter(self.columns.values()), []))
        else:
            self._write()

    def append(self, row: dict, *, write: bool = True) -> None:
        for key in row:
            if key not in self.columns:
                self.columns[key] = [np.nan] * self.rows  # a key first seen late is NaN for the earlier epochs
        for key, values in self.columns.items():
            values.append(_value(row.get(key, np.nan)))
        self.rows += 1
        if write:
            self._write()

    def flush(self) -> None:
        """Write the rows appended with `write=False`."""
        self._write()

    def keep_rows(self, rows: int) -> None:
        """Drop every row after the first `rows` (lib.runs.resume: epochs beyond the checkpoint)."""
        self.rows = min(self.rows, rows)
        self.columns = {key: values[:self.rows] for key, values in self.columns.items()}
        self._write()

    def _write(self) -> None:
        with atomic.h5_file(self.path) as f:
            f.attrs.update(self.attrs)
            f.attrs[COMPLETE] = self.rows
            f.attrs[COLUMNS] = json.dumps(list(self.columns))  # the order rows were written in
            for key, values in self.columns.items():
                f.create_dataset(key, data=np.asarray(values, dtype=np.float64))

    def close(self) -> None:
        """Nothing stays open between epochs; kept so that every writer can be closed alike."""


def _value(value):
    """A row's value as stored: a float, or a float64 array."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)


def read_epoch_table(path: str) -> dict[str, np.ndarray]:
    """The complete rows of a table written by EpochTableWriter, as {key: 1-D array}."""
    try:
        with h5py.File(path, "r") as f:
            if COMPLETE not in f.attrs:
                raise UsageError(f"{path} is not an initlab epoch table (no '{COMPLETE}' attribute)")
            rows = int(f.attrs[COMPLETE])
            return {key: np.asarray(f[key][:rows]) for key in _dataset_keys(f)}
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error}") from None


def truncate_epoch_table(path: str, last_epoch: int) -> None:
    """Keep only the rows of epochs <= last_epoch (none when last_epoch is 0: a run starting over)."""
    with h5py.File(path, "r") as f:
        first, every = int(f.attrs.get(FIRST_EPOCH, 1)), int(f.attrs.get(EVERY, 1))
        kind = f.attrs.get("kind", "history")
    writer = EpochTableWriter(path, kind=kind, first_epoch=first, every=every, resume=True)
    writer.keep_rows(0 if last_epoch < max(first, 1) else (last_epoch - first) // every + 1)


def is_epoch_table(path: str) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return COMPLETE in f.attrs
    except OSError:
        return False


def _dataset_keys(f) -> list[str]:
    keys = []
    f.visititems(lambda name, node: keys.append(name) if isinstance(node, h5py.Dataset) else None)
    return keys
