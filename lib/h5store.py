"""The one h5 writer and reader of initlab (plain h5py; DESIGN.md, principle 10).

Per-epoch tables (history.h5) are one resizable 1-D dataset per key at the root, as in
xavier_init's files (`loss`, `acc`, `val_loss`, `val_acc`). A row is complete only once the
root attribute `epochs_complete` counts it: the writer extends every dataset, then bumps the
counter and flushes, so a crash mid-row leaves a file whose reader ignores the partial row.
"""

import h5py
import numpy as np

from lib.errors import UsageError

SCHEMA_VERSION = 1
COMPLETE = "epochs_complete"


class EpochTableWriter:
    """Appends one row of named scalars per epoch to an h5 file."""

    def __init__(self, path: str, *, config_json: str = "{}", kind: str = "history"):
        self._file = h5py.File(path, "w")
        self._file.attrs["schema_version"] = SCHEMA_VERSION
        self._file.attrs["kind"] = kind
        self._file.attrs["config"] = config_json
        self._file.attrs[COMPLETE] = 0
        self._file.flush()

    def append(self, row: dict[str, float]) -> None:
        rows = int(self._file.attrs[COMPLETE])
        for key, value in row.items():
            if key not in self._file:
                # A key first seen late is NaN for the earlier epochs.
                self._file.create_dataset(key, data=np.full(rows, np.nan), maxshape=(None,), chunks=(256,))
            dataset = self._file[key]
            dataset.resize((rows + 1,))
            dataset[rows] = float(value)
        for key in self._file:
            if key not in row:
                self._file[key].resize((rows + 1,))
                self._file[key][rows] = np.nan
        self._file.attrs[COMPLETE] = rows + 1
        self._file.flush()

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()


def read_epoch_table(path: str) -> dict[str, np.ndarray]:
    """The complete rows of a table written by EpochTableWriter, as {key: 1-D array}."""
    try:
        with h5py.File(path, "r") as f:
            if COMPLETE not in f.attrs:
                raise UsageError(f"{path} is not an initlab epoch table (no '{COMPLETE}' attribute)")
            rows = int(f.attrs[COMPLETE])
            return {key: np.asarray(f[key][:rows]) for key in f}
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error}") from None

