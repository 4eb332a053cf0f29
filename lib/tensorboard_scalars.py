"""Per-epoch scalars for TensorBoard, in the layout of Keras' TensorBoard callback.

`tb/train/` and `tb/validation/` runs with tags `epoch_<metric>` (`val_` stripped), one point
per completed epoch. Written from the epoch-end hook only: Keras' own TensorBoard callback
also hooks every batch, which costs measurable time at the paper's batch size of 10.
This is TensorFlow-specific (tf.summary); it is the module to swap on another backend.
"""

import os


class TensorBoardScalars:
    def __init__(self, log_dir: str):
        import tensorflow as tf

        self._summary = tf.summary
        self._writers = {run: tf.summary.create_file_writer(os.path.join(log_dir, run)) for run in ("train", "validation")}

    def append(self, epoch: int, logs: dict) -> None:
        for key, value in logs.items():
            run, name = ("validation", key[len("val_"):]) if key.startswith("val_") else ("train", key)
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            with self._writers[run].as_default(step=epoch):
                self._summary.scalar(f"epoch_{name}", value)
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


class TaggedScalars:
    """Scalars under tags of the caller's choosing, all in one TensorBoard run folder."""

    def __init__(self, log_dir: str):
        import tensorflow as tf

        self._summary = tf.summary
        self._writer = tf.summary.create_file_writer(log_dir)

    def write(self, step: int, values: dict[str, float]) -> None:
        with self._writer.as_default(step=step):
            for tag, value in values.items():
                self._summary.scalar(tag, float(value))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
