"""Per-epoch scalars for TensorBoard, written without any ML framework.

`TensorBoardScalars` keeps the layout of Keras' TensorBoard callback: `tb/train/` and
`tb/validation/` runs with tags `epoch_<metric>` (`val_` stripped), one point per completed
epoch, written from the epoch-end hook only (Keras' own callback also hooks every batch, which
costs measurable time at the paper's batch size of 10). `TaggedScalars` writes tags of the
caller's choosing into one run folder. Both use TensorBoard's own NumPy-only writer
(`tensorboard.summary.Writer`), which records the same tensor summaries as `tf.summary.scalar`,
so runs on the JAX backend need no TensorFlow.
"""

import os

import numpy as np


def _writer(log_dir: str):
    from tensorboard.summary import Writer

    os.makedirs(log_dir, exist_ok=True)
    return Writer(log_dir)


class TaggedScalars:
    """Scalars under tags of the caller's choosing, all in one TensorBoard run folder."""

    def __init__(self, log_dir: str):
        self._writer = _writer(log_dir)
        self._open = True

    def write(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self._writer.add_scalar(tag, np.float32(value), step=step)
        self._writer.flush()

    def close(self) -> None:
        """Idempotent: a run stopped early closes its writers again on the way out."""
        if self._open:
            self._writer.close()
            self._open = False


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
