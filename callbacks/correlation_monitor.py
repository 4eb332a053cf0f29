"""Measures a ConstNet run's correlations at initialization and after every epoch and hands each
row to writers (correlations.h5, TensorBoard): the original's per-epoch `measure_correlation`.

The measurement is `lib.studies.constnet.meter`; the files are the writers'. Epoch 0 is the
initialization, epoch N the weights after N epochs (the original's step N-1).
"""

import keras


class CorrelationMonitor(keras.callbacks.Callback):
    def __init__(self, make_meter, *writers, start_epoch: int = 0):
        """make_meter(model) -> an object with measure(epoch) -> {name: value}; writers have append(epoch, row, logs).

        A run resumed after epoch N > 0 has rows 0..N already: nothing is measured at train begin.
        """
        super().__init__()
        self.make_meter, self.writers, self.start_epoch = make_meter, writers, start_epoch
        self.meter = None

    def on_train_begin(self, logs=None):
        self.meter = self.make_meter(self.model)
        if self.start_epoch == 0:
            self._hand_off(0, {})

    def on_epoch_end(self, epoch, logs=None):
        self._hand_off(epoch + 1, logs or {})

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def _hand_off(self, epoch, logs):
        row = self.meter.measure(epoch)
        for writer in self.writers:
            writer.append(epoch, row, logs)
