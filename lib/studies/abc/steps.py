"""The abc study's per-step record: what the reference's `results.pickle` keeps per SGD step (§B5:
`all_losses`, `all_outputs`, `lrs`) and its TensorBoard tags (§B3: `training/loss`, `training/likelihood`,
`training/accuracy`, `learning_rates/{input_layer,intermediate_layers,output_layer}`, `validation/...`).

Keras' batch logs hold the epoch's running means, so the per-step values come from `BatchMean` metrics,
which hold the last batch's mean (`step_*` in the logs). `StepLog` hands them to the run's per-step
table (`per_step/history.h5`, one row per SGD step: row 0 is step 1; an epoch table of lib.storage, in a
folder of its own so that the run's epoch-wise cut-back on --resume leaves it to this module) and to
TensorBoard (`tb/abc/`), then drops them from the epoch logs (their epoch value is the last batch's).
"""

import os

import keras
import numpy as np
from keras import ops

from lib.storage.epoch_table import EpochTableWriter
from lib.storage.tensorboard_scalars import TaggedScalars

STEP_TABLE = os.path.join("per_step", "history.h5")
TENSORBOARD = os.path.join("tb", "abc")
STEP_PREFIX = "step_"
LAYER_GROUPS = ("input_layer", "intermediate_layers", "output_layer")


def likelihood(y_true, y_pred):
    """The softmax probability of the true class (§B3 `likelihood`), per example; y_true one-hot, y_pred logits."""
    return ops.sum(ops.multiply(ops.softmax(y_pred, axis=-1), ops.cast(y_true, y_pred.dtype)), axis=-1)


def accuracy(y_true, y_pred):
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)), "float32")


def abs_output(y_true, y_pred):
    """Mean |logit| of each example (§B5 `all_outputs`)."""
    return ops.mean(ops.abs(y_pred), axis=-1)


def cross_entropy(y_true, y_pred):
    return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=True)


class BatchMean(keras.metrics.Metric):
    """The mean of fn(y_true, y_pred) over the last batch only (not the epoch's running mean)."""

    def __init__(self, fn, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.fn = fn
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(ops.cast(ops.mean(self.fn(y_true, y_pred)), self.value.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)

    def reset_state(self):
        self.value.assign(0.0)


def step_metrics() -> list:
    """`step_loss`, `step_likelihood`, `step_accuracy`, `step_abs_output` (the loss without reduction options:
    cross-entropy on the logits, the batch mean)."""
    return [BatchMean(fn, f"{STEP_PREFIX}{name}") for name, fn in
            (("loss", cross_entropy), ("likelihood", likelihood), ("accuracy", accuracy), ("abs_output", abs_output))]


def group_learning_rates(model, base_lr: float, scales: dict, warmup_scales: dict | None, n_warmup_steps: int,
                         step: int) -> dict:
    """The learning rate of each layer group's kernel at update `step` (0-based); the intermediate layers'
    is the first intermediate layer's (the reference logs one value for them)."""
    from models.abc_mlp import abc_layers

    layers = abc_layers(model)
    table = warmup_scales if warmup_scales is not None and step < n_warmup_steps else scales
    chosen = {"input_layer": layers[0], "intermediate_layers": layers[1] if len(layers) > 2 else None,
              "output_layer": layers[-1]}
    return {group: float("nan") if layer is None else base_lr * table[layer.kernel.path] for group, layer in chosen.items()}


class StepLog(keras.callbacks.Callback):
    """Records every SGD step's loss, likelihood, accuracy, mean |output| and learning rates; validation
    scores under the original's tags at each epoch's end (at its last step)."""

    def __init__(self, run_path: str, learning_rates, *, steps_per_epoch: int, start_epoch: int = 0,
                 config_json: str = "{}"):
        super().__init__()
        self.learning_rates = learning_rates  # step -> {group: rate}
        self.steps_per_epoch = steps_per_epoch
        self.step = start_epoch * steps_per_epoch
        path = os.path.join(run_path, STEP_TABLE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.table = EpochTableWriter(path, config_json=config_json, kind="steps", first_epoch=1,
                                      resume=start_epoch > 0)
        self.table.keep_rows(self.step)  # a resumed run: the steps of its checkpointed epochs
        self.scalars = TaggedScalars(os.path.join(run_path, TENSORBOARD))

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        values = {name[len(STEP_PREFIX):]: float(logs[name]) for name in logs if name.startswith(STEP_PREFIX)}
        rates = self.learning_rates(self.step)
        self.step += 1
        self.table.append({**values, **{f"lr_{group}": rate for group, rate in rates.items()}}, write=False)
        self.scalars.write(self.step, {**{f"training/{name}": value for name, value in values.items()
                                          if name != "abs_output"},
                                       **{f"learning_rates/{group}": rate for group, rate in rates.items()}})

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            for name in [name for name in logs if name.startswith(STEP_PREFIX) or name.startswith("val_" + STEP_PREFIX)]:
                del logs[name]
            self.scalars.write(self.step, {f"validation/{name}": float(logs[f"val_{key}"]) for name, key in
                                           (("loss", "loss"), ("likelihood", "likelihood"), ("accuracy", "acc"))
                                           if f"val_{key}" in logs})
        self.table.flush()

    def write_test(self, results: dict) -> None:
        scores = {f"test/{name}": results[key] for name, key in (("loss", "test_loss"), ("accuracy", "test_acc"))
                  if results.get(key) is not None}
        self.scalars.write(self.step, scores)

    def close(self):
        self.table.flush()
        self.scalars.close()


def read_steps(run_path: str) -> dict[str, np.ndarray]:
    from lib.storage.epoch_table import read_epoch_table

    return read_epoch_table(os.path.join(run_path, STEP_TABLE))
