"""Per-epoch training history written as it happens: history.h5 (plain h5py) and history.csv.

Keys keep xavier_init's names (`loss`, `acc`, `val_loss`, `val_acc`); any other scalar Keras
logs (e.g. `learning_rate`) follow. Epochs are counted from 1 (epoch N = after N epochs).
"""

import csv
import io

from lib.storage import atomic
from lib.storage.epoch_table import EpochTableWriter

HISTORY_KEYS = ("loss", "acc", "val_loss", "val_acc")


class HistoryFiles:
    """history.h5 and history.csv, both rewritten whole (atomically) after every epoch.

    With `resume`, both continue after the rows already there (cut back by lib.runs.resume).
    """

    def __init__(self, h5_path: str, csv_path: str, config_json: str, *, resume: bool = False):
        self._table = EpochTableWriter(h5_path, config_json=config_json, kind="history", resume=resume)
        self._csv_path = csv_path

    def append(self, epoch: int, logs: dict) -> None:
        row = {key: float(logs[key]) for key in HISTORY_KEYS if key in logs}
        row.update({key: float(value) for key, value in sorted(logs.items()) if key not in row and _is_scalar(value)})
        self._table.append(row)
        columns = self._table.columns
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["epoch", *columns])
        for index in range(self._table.rows):
            writer.writerow([index + 1, *(repr(values[index]) for values in columns.values())])
        atomic.write_text(self._csv_path, text.getvalue())

    def close(self) -> None:
        self._table.close()


def _is_scalar(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
