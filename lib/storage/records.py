"""Per-epoch records of arrays (activations.h5, gradients.h5, ...), one writer and one reader.

Each record is written whole into its own file, records/epoch<N>.h5 (one group per kind),
under a temporary name that is renamed when complete. The files users open,
<kind>.h5, hold one HDF5 external link per complete record, `epoch<N>` -> that record's
group, so `f["epoch3"]["dense_2"]` reads as in xavier_init's files. They are tiny and
rewritten atomically after each record: a crash loses at most the record in progress,
and a reader can never see half of one. The kinds are the study's: the writer accepts the
ones it is given (glorot: lib.backend.gradients.ProbeRecord.KINDS), and no other.
"""

import os

import h5py
import numpy as np

from lib.errors import UsageError
from lib.storage import atomic
from lib.storage.epoch_table import SCHEMA_VERSION

RECORDS_FOLDER = "records"


def record_file_name(epoch: int) -> str:
    return os.path.join(RECORDS_FOLDER, f"epoch{epoch}.h5")


class RecordWriter:
    """Writes records; with `resume`, continues after the complete records already on disk."""

    def __init__(self, run_path: str, kinds, *, config_json: str = "{}", dtype: str = "float32",
                 compression: str | None = None, resume: bool = False):
        self.run_path = run_path
        self.config_json = config_json
        self.dtype = np.dtype(dtype)
        self.compression = compression
        self.epochs: dict[str, list[int]] = {kind: [] for kind in kinds}
        with atomic.writing(os.path.join(run_path, RECORDS_FOLDER)):
            os.makedirs(os.path.join(run_path, RECORDS_FOLDER), exist_ok=True)
        if resume:
            for epoch in record_files(run_path):
                with h5py.File(os.path.join(run_path, record_file_name(epoch)), "r") as f:
                    for kind in f:
                        self._check_kind(kind)
                        self.epochs[kind].append(epoch)
            for kind in self.epochs:  # the indexes may still link records that resuming removed
                if os.path.exists(os.path.join(run_path, f"{kind}.h5")):
                    self._write_index(kind)

    def write(self, epoch: int, groups: dict[str, dict[str, np.ndarray]]) -> int:
        """Write one record ({kind: {key: array}}); returns the bytes written to disk."""
        for kind in groups:
            self._check_kind(kind)
        path = os.path.join(self.run_path, record_file_name(epoch))
        with atomic.h5_file(path) as f:  # interrupted or disk full: the record is discarded, never half-linked
            f.attrs["epoch"] = epoch
            for kind, arrays in groups.items():
                group = f.create_group(kind)
                for key, array in arrays.items():
                    group.create_dataset(key, data=np.asarray(array, dtype=self.dtype),
                                         compression=self.compression, shuffle=self.compression is not None)
        for kind in groups:
            self.epochs[kind].append(epoch)
            self._write_index(kind)
        return os.path.getsize(path)

    def _check_kind(self, kind: str) -> None:
        if kind not in self.epochs:
            raise ValueError(f"record kind '{kind}' is not one this writer was given ({', '.join(self.epochs)})")

    def _write_index(self, kind: str) -> None:
        path = os.path.join(self.run_path, f"{kind}.h5")
        with atomic.h5_file(path) as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["kind"] = kind
            f.attrs["config"] = self.config_json
            for epoch in self.epochs[kind]:
                f[f"epoch{epoch}"] = h5py.ExternalLink(record_file_name(epoch), f"/{kind}")


def record_files(run_path: str) -> list[int]:
    """Epochs of the complete record files in a run's records folder (not the .partial ones)."""
    folder = os.path.join(run_path, RECORDS_FOLDER)
    if not os.path.isdir(folder):
        return []
    names = [name for name in os.listdir(folder) if name.startswith("epoch") and name.endswith(".h5")]
    return sorted(int(name[len("epoch"):-len(".h5")]) for name in names)


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
