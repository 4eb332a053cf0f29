"""Measures a model at initialization and after every `every`-th epoch and hands each row to writers:
constnet's correlations (the original's per-epoch `measure_correlation`; lib.studies.constnet.meter,
correlations.h5 and TensorBoard) and `--hessian_every`'s sharpness (lib.hessian.monitor).

The measurement is the meter's; the files are the writers'. Epoch 0 is the initialization, epoch N
the weights after N epochs (the original's step N-1).
"""

import keras


class EpochMonitor(keras.callbacks.Callback):
    def __init__(self, make_meter, *writers, start_epoch: int = 0, every: int = 1):
        """make_meter(model) -> an object with measure(epoch) -> {name: value}; writers have append(epoch, row, logs).

        A run resumed after epoch N > 0 has its rows up to N already: nothing is measured at train begin.
        """
        super().__init__()
        self.make_meter, self.writers, self.start_epoch, self.every = make_meter, writers, start_epoch, every
        self.meter = None

    def on_train_begin(self, logs=None):
        self.meter = self.make_meter(self.model)
        if self.start_epoch == 0:
            self._hand_off(0, {})

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
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
