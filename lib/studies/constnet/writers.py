"""Where a ConstNet run's correlation rows go: correlations.h5 and TensorBoard.

correlations.h5 (an epoch table, lib.storage.epoch_table) keeps the raw mean correlations rho: keys
`epoch`, `diversity`, `forward/<layer>`, `backward/<layer>`, `kernels/<layer>`,
`activations/<block>`. TensorBoard gets the original's tags (reference/constnet.md §3) with
clean layer names: `<layer>/forward`, `<layer>/backward`, `<layer>/correlations` (kernels)
and initlab's `<block>/activations`, each as -ln|rho|, plus `Diversity`; and from the epoch's
logs `Train/Loss`, `Train/Prec@1`, `AvgTest/Loss`, `AvgTest/Prec@1` (percent).
"""

from lib.storage.epoch_table import EpochTableWriter
from lib.studies.constnet.correlations import negative_log

TENSORBOARD_MEASURE_NAMES = {"forward": "forward", "backward": "backward", "kernels": "correlations",
                             "activations": "activations"}
REFERENCE_LOG_TAGS = {"ce": ("Train/Loss", 1.0), "acc": ("Train/Prec@1", 100.0),
                      "val_ce": ("AvgTest/Loss", 1.0), "val_acc": ("AvgTest/Prec@1", 100.0)}


class CorrelationTable:
    def __init__(self, path: str, config_json: str, *, resume: bool = False):
        self._table = EpochTableWriter(path, config_json=config_json, kind="correlations", first_epoch=0, resume=resume)

    def append(self, epoch: int, row: dict, logs: dict) -> None:
        self._table.append(row)

    def close(self) -> None:
        self._table.close()


class CorrelationScalars:
    def __init__(self, log_dir: str):
        from lib.storage.tensorboard_scalars import TaggedScalars

        self._scalars = TaggedScalars(log_dir)

    def append(self, epoch: int, row: dict, logs: dict) -> None:
        self._scalars.write(epoch, tensorboard_values(row, logs))

    def close(self) -> None:
        self._scalars.close()


def tensorboard_values(row: dict, logs: dict) -> dict[str, float]:
    values = {"Diversity": row["diversity"]}
    for key, rho in row.items():
        measure, _, layer = key.partition("/")
        if measure in TENSORBOARD_MEASURE_NAMES:
            values[f"{layer}/{TENSORBOARD_MEASURE_NAMES[measure]}"] = negative_log(rho)
    for key, (tag, scale) in REFERENCE_LOG_TAGS.items():
        if key in logs:
            values[tag] = scale * float(logs[key])
    return values
