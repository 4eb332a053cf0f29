"""Per-epoch training history written as it happens: history.h5 (plain h5py) and history.csv.

Keys keep xavier_init's names (`loss`, `acc`, `val_loss`, `val_acc`); any other scalar Keras
logs (e.g. `learning_rate`) follow. Epochs are counted from 1 (epoch N = after N epochs).
"""

import csv

from lib.h5store import EpochTableWriter

HISTORY_KEYS = ("loss", "acc", "val_loss", "val_acc")


class HistoryFiles:
    def __init__(self, h5_path: str, csv_path: str, config_json: str):
        self._table = EpochTableWriter(h5_path, config_json=config_json, kind="history")
        self._csv_path = csv_path
        self._columns: list[str] | None = None

    def append(self, epoch: int, logs: dict) -> None:
        row = {key: float(logs[key]) for key in HISTORY_KEYS if key in logs}
        row.update({key: float(value) for key, value in sorted(logs.items()) if key not in row and _is_scalar(value)})
        self._table.append(row)
        if self._columns is None:
            self._columns = list(row)
            with open(self._csv_path, "w", newline="") as f:
                csv.writer(f).writerow(["epoch", *self._columns])
        with open(self._csv_path, "a", newline="") as f:
            csv.writer(f).writerow([epoch, *(repr(row.get(key, float("nan"))) for key in self._columns)])

    def close(self) -> None:
        self._table.close()


def _is_scalar(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
