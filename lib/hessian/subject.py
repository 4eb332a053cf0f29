"""What a study hands the Hessian analysis: a model with the weights of one epoch, the loss it trains
with, and the examples of one split (a study's `hessian` hook returns a HessianSubject).

The hooks share the two rules here: which weights an `--epoch` means (restore_weights) and how a
split gives its first examples, streamed or not (first_examples).
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from lib.datasets.splits import Split, StreamSplit, one_hot
from lib.errors import UsageError

SPLITS = ("test", "train")


@dataclass(frozen=True)
class HessianSubject:
    model: object  # a keras.Model holding the requested weights (run in inference mode)
    loss: Callable  # loss(y_true, y_pred) -> the batch mean, as the study trains with (without weight decay)
    data: Split  # the examples of the requested split, in the model's input shape, labels one-hot
    epoch: int  # the epoch of the weights (0: the initialization rebuilt from the run's seed)


def compiled_loss(model) -> Callable:
    """The batch-mean loss `model` was compiled with: a Keras Loss object as it is, a loss name through
    keras.losses.get (per-example values) and a mean."""
    import keras

    if not isinstance(model.loss, str):
        return model.loss
    per_example = keras.losses.get(model.loss)
    return lambda y_true, y_pred: keras.ops.mean(per_example(y_true, y_pred))


def restore_weights(run_path: str, model, epoch: int | None) -> int:
    """Load the weights `epoch` names into `model` (built from the run's seed) and return their epoch.

    None: the run's checkpoint (a run keeps one, of its newest completed epoch); 0: the model as
    built, i.e. the initialization; any other epoch must be the checkpoint's.
    """
    from lib.runs.checkpoint import checkpoint_epoch, load_checkpoint

    if epoch == 0:
        return 0
    saved = checkpoint_epoch(run_path)
    if saved == 0:
        raise UsageError(f"{run_path} has no checkpoint (no completed epoch saved); pass --epoch 0 for the initialization")
    if epoch is not None and epoch != saved:
        raise UsageError(f"{run_path} has no checkpoint of epoch {epoch}: a run keeps its newest one, epoch {saved} "
                         "(pass --epoch 0 for the initialization)")
    return load_checkpoint(run_path, model)


def first_examples(split: Split | StreamSplit, count: int, num_classes: int) -> Split:
    """The first `count` examples of a split (of a stream: from its start position), labels one-hot."""
    if isinstance(split, StreamSplit):
        x, labels = split.stream.examples(split.start, count)
        return Split(x.reshape(count, *split.example_shape), one_hot(labels, num_classes))
    if count > len(split):
        raise UsageError(f"the split has {len(split)} examples, fewer than the {count} requested "
                         "(--batch_size x --batches)")
    return split.head(count)


def batches(data: Split, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive batches of `batch_size` (the last one smaller if the split ends there)."""
    return [(data.x[start:start + batch_size], data.y[start:start + batch_size])
            for start in range(0, len(data), batch_size)]


def layer_blocks(names: list[str]) -> dict[str, list[int]]:
    """Variable indices grouped by layer (a path `block1/conv/kernel` belongs to layer `block1/conv`):
    the diagonal blocks of `--per_layer`, each layer's kernel and bias together."""
    blocks: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        blocks.setdefault(name.rpartition("/")[0] or name, []).append(index)
    return blocks
