"""Per-epoch scalars for TensorBoard, written without any ML framework.

`TensorBoardScalars` keeps the layout of Keras' TensorBoard callback: `tb/train/` and
`tb/validation/` runs with tags `epoch_<metric>` (`val_` stripped), one point per completed
epoch, written from the epoch-end hook only (Keras' own callback also hooks every batch, which
costs measurable time at the paper's batch size of 10). `TaggedScalars` writes tags of the
caller's choosing into one run folder. Both use TensorBoard's own NumPy-only writer
(`tensorboard.summary.Writer`), which records the same tensor summaries as `tf.summary.scalar`,
so runs on the JAX backend need no TensorFlow. A full disk is DiskFull naming the run folder
(the writer picks the event file's name).
"""

import os

import numpy as np

from lib.errors import disk_full_reason
from lib.storage import atomic


def _writer(log_dir: str):
    from tensorboard.summary import Writer

    with atomic.writing(log_dir):
        os.makedirs(log_dir, exist_ok=True)
        return Writer(log_dir)


class TaggedScalars:
    """Scalars under tags of the caller's choosing, all in one TensorBoard run folder."""

    def __init__(self, log_dir: str):
        self._log_dir = log_dir
        self._writer = _writer(log_dir)
        self._open = True

    def write(self, step: int, values: dict[str, float]) -> None:
        with atomic.writing(self._log_dir):
            for tag, value in values.items():
                self._writer.add_scalar(tag, np.float32(value), step=step)
            self._writer.flush()

    def close(self) -> None:
        """Idempotent: a run stopped early closes its writers again on the way out. Every write was
        flushed, so a close that finds the disk full (after a write that said so) has nothing to lose."""
        if self._open:
            self._open = False
            try:
                self._writer.close()
            except Exception as error:
                if disk_full_reason(error) is None:
                    raise


class TensorBoardScalars:
    def __init__(self, log_dir: str):
        self._runs = {run: TaggedScalars(os.path.join(log_dir, run)) for run in ("train", "validation")}

    def append(self, epoch: int, logs: dict) -> None:
        values = {"train": {}, "validation": {}}
        for key, value in logs.items():
            run, name = ("validation", key[len("val_"):]) if key.startswith("val_") else ("train", key)
            try:
                values[run][f"epoch_{name}"] = float(value)
            except (TypeError, ValueError):
                continue
        for run, scalars in values.items():
            self._runs[run].write(epoch, scalars)

    def close(self) -> None:
        for scalars in self._runs.values():
            scalars.close()
