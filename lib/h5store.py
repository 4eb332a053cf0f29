"""The one h5 writer and reader of initlab (plain h5py; DESIGN.md, principle 10).

Per-epoch tables (history.h5, correlations.h5) are one resizable 1-D dataset per key, as in
xavier_init's files (`loss`, `acc`, `val_loss`, `val_acc`); a key with slashes
(`forward/conv1`) lives in groups. A row is complete only once the
root attribute `epochs_complete` counts it: the writer extends every dataset, then bumps the
counter and flushes, so a crash mid-row leaves a file whose reader ignores the partial row.
"""

import os

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
        self._keys: list[str] = []

    def append(self, row: dict[str, float]) -> None:
        rows = int(self._file.attrs[COMPLETE])
        for key, value in row.items():
            if key not in self._file:
                # A key first seen late is NaN for the earlier epochs.
                self._file.create_dataset(key, data=np.full(rows, np.nan), maxshape=(None,), chunks=(256,))
                self._keys.append(key)
            dataset = self._file[key]
            dataset.resize((rows + 1,))
            dataset[rows] = float(value)
        for key in self._keys:
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
            keys = []
            f.visititems(lambda name, node: keys.append(name) if isinstance(node, h5py.Dataset) else None)
            return {key: np.asarray(f[key][:rows]) for key in keys}
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error}") from None



# Per-epoch records of arrays (activations.h5, gradients.h5, ...).
#
# Each record is written whole into its own file, records/epoch<N>.h5 (one group per kind),
# under a temporary name that is renamed when complete. The files users open,
# <kind>.h5, hold one HDF5 external link per complete record, `epoch<N>` -> that record's
# group, so `f["epoch3"]["dense_2"]` reads as in xavier_init's files. They are tiny and
# rewritten atomically after each record: a crash loses at most the record in progress,
# and a reader can never see half of one.

RECORD_KINDS = ("activations", "preactivations", "backprop_gradients", "gradients", "weights")
RECORDS_FOLDER = "records"


def record_file_name(epoch: int) -> str:
    return os.path.join(RECORDS_FOLDER, f"epoch{epoch}.h5")


class RecordWriter:
    def __init__(self, run_path: str, *, config_json: str = "{}", dtype: str = "float32",
                 compression: str | None = None):
        self.run_path = run_path
        self.config_json = config_json
        self.dtype = np.dtype(dtype)
        self.compression = compression
        self.epochs: dict[str, list[int]] = {kind: [] for kind in RECORD_KINDS}
        os.makedirs(os.path.join(run_path, RECORDS_FOLDER), exist_ok=True)

    def write(self, epoch: int, groups: dict[str, dict[str, np.ndarray]]) -> int:
        """Write one record ({kind: {key: array}}); returns the bytes written to disk."""
        path = os.path.join(self.run_path, record_file_name(epoch))
        partial = path + ".partial"
        with h5py.File(partial, "w") as f:
            f.attrs["epoch"] = epoch
            for kind, arrays in groups.items():
                group = f.create_group(kind)
                for key, array in arrays.items():
                    group.create_dataset(key, data=np.asarray(array, dtype=self.dtype), compression=self.compression,
                                         shuffle=self.compression is not None)
        os.replace(partial, path)
        for kind in groups:
            self.epochs[kind].append(epoch)
            self._write_index(kind)
        return os.path.getsize(path)

    def _write_index(self, kind: str) -> None:
        path = os.path.join(self.run_path, f"{kind}.h5")
        partial = path + ".partial"
        with h5py.File(partial, "w") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["kind"] = kind
            f.attrs["config"] = self.config_json
            for epoch in self.epochs[kind]:
                f[f"epoch{epoch}"] = h5py.ExternalLink(record_file_name(epoch), f"/{kind}")
        os.replace(partial, path)


def record_epochs(run_path: str, kind: str) -> list[int]:
    """The complete records of `kind` in a run, in epoch order."""
    with _open_index(run_path, kind) as f:
        return sorted(int(name[len("epoch"):]) for name in f if name.startswith("epoch"))


def read_record(run_path: str, kind: str, epoch: int) -> dict[str, np.ndarray]:
    """{key: array} of one record, e.g. read_record(run, "activations", 0)["dense_1"]."""
    with _open_index(run_path, kind) as f:
        try:
            group = f[f"epoch{epoch}"]
            return {key: np.asarray(group[key], dtype=np.float32) for key in group}
        except (KeyError, OSError) as error:
            raise UsageError(f"{os.path.join(run_path, kind + '.h5')}: cannot read epoch{epoch} ({error})") from None


def _open_index(run_path: str, kind: str):
    path = os.path.join(run_path, f"{kind}.h5")
    if not os.path.exists(path):
        raise UsageError(f"{path} does not exist; is {run_path} a glorot run directory with recording on?")
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise UsageError(f"cannot read {path}: not a readable HDF5 file ({error.__class__.__name__})") from None
    if f.attrs.get("kind") != kind:
        f.close()
        raise UsageError(f"{path} is not an initlab {kind} file (no matching 'kind' attribute)")
    return f
