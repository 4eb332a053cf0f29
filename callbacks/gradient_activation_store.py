"""GradientActivationStore: records the paper's statistics on a fixed probe set during training.

`epoch0` is recorded in on_train_begin, before any update (the true initialization), then
`epoch<N>` after every `record_every`-th epoch. Each record is one forward/backward pass
(lib.backend.gradients) handed to the record writer (lib.storage.epoch_table), which puts it on disk at once:
nothing accumulates in memory across epochs.
"""

import keras


class GradientActivationStore(keras.callbacks.Callback):
    def __init__(self, writer, probe_x, probe_y, *, record_every: int = 1, weights_every_record: bool = False,
                 start_epoch: int = 0):
        super().__init__()
        self.start_epoch = start_epoch  # a resumed run has its earlier records already
        self.writer = writer
        self.probe_x, self.probe_y = probe_x, probe_y
        self.record_every = record_every
        self.weights_every_record = weights_every_record
        self.bytes_per_record: list[int] = []

    def on_train_begin(self, logs=None):
        from lib.backend.gradients import FeedforwardProbe

        self.probe = FeedforwardProbe(self.model)
        if self.start_epoch == 0:
            self.record(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.record_every == 0:
            self.record(epoch + 1)

    def record(self, epoch: int) -> None:
        captured = self.probe.capture(self.probe_x, self.probe_y)
        groups = captured.as_groups(with_weights=epoch == 0 or self.weights_every_record)
        self.bytes_per_record.append(self.writer.write(epoch, groups))
