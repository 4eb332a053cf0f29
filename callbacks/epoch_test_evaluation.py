"""Adds the test-set loss and accuracy to each epoch's logs (`test_loss`, `test_acc`).

The paper's Fig. 11 plots *test* error during training; Keras validates on one set only.
Placed before the history writers in the callback list, so they record these keys too.

The test set is evaluated as one batch with `model.test_on_batch`, on tensors converted once:
the model's own compiled test step, traced once for that shape, without the input pipeline
that `model.evaluate` builds anew on every call (on TensorFlow a tf.data pipeline, ~150 ms
per epoch for Shapeset's 10,000 test examples; bench/training_loop.py). One batch gives each
metric over the whole set, as `evaluate` does, up to float32 rounding; the glorot MLP's
10,000 examples need ~0.3 GB of activations.
"""

import keras


class EpochTestEvaluation(keras.callbacks.Callback):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def on_train_begin(self, logs=None):
        self._x, self._y = keras.ops.convert_to_tensor(self.x), keras.ops.convert_to_tensor(self.y)

    def on_epoch_end(self, epoch, logs=None):
        scores = self.model.test_on_batch(self._x, self._y, return_dict=True)
        if logs is not None:
            logs.update({f"test_{name}": value for name, value in scores.items()})
