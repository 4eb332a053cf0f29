"""Measures a ConstNet run's correlations at initialization and after every epoch and hands each
row to writers (correlations.h5, TensorBoard): the original's per-epoch `measure_correlation`.

The measurement is `lib.correlation_meter`; the files are the writers'. Epoch 0 is the
initialization, epoch N the weights after N epochs (the original's step N-1).
"""

import keras


class CorrelationMonitor(keras.callbacks.Callback):
    def __init__(self, make_meter, *writers):
        """make_meter(model) -> an object with measure(epoch) -> {name: value}; writers have append(epoch, row, logs)."""
        super().__init__()
        self.make_meter, self.writers = make_meter, writers
        self.meter = None

    def on_train_begin(self, logs=None):
        self.meter = self.make_meter(self.model)
        self._hand_off(0, {})

    def on_epoch_end(self, epoch, logs=None):
        self._hand_off(epoch + 1, logs or {})

    def on_train_end(self, logs=None):
        for writer in self.writers:
            writer.close()

    def _hand_off(self, epoch, logs):
        row = self.meter.measure(epoch)
        for writer in self.writers:
            writer.append(epoch, row, logs)
