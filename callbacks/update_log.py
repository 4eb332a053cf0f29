"""--log_every_iter: one line per update with the epoch's running training loss, as the weight-norm
code logs it (Keras' batch logs hold the mean loss of the epoch so far)."""

import keras


class UpdateLossLog(keras.callbacks.Callback):
    def __init__(self, steps_per_epoch: int, print_line=print):
        super().__init__()
        self.steps_per_epoch, self.print_line = steps_per_epoch, print_line
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", float("nan")))
        self.print_line(f"epoch {self.epoch + 1} batch {batch + 1}/{self.steps_per_epoch}: running train loss {loss:.4f}")
