"""The run checkpoint that `--resume` continues from (one per run, replaced after every epoch).

`checkpoints/epoch<N>.h5` holds every variable of the model (weights, BN statistics and the
dropout layers' random-generator states, which Keras' own weight files leave out) and of the
optimizer (update counter, momenta), in the model's variable order; `checkpoints/state.json`
names the newest complete one. Both are written under temporary names and renamed, the file
before the state, so a crash at any moment leaves the previous checkpoint in force.
"""

import json
import os

import h5py
import numpy as np

from lib.errors import UsageError
from lib.storage import atomic

FOLDER = "checkpoints"
STATE_FILE = "state.json"


def _folder(run_path: str) -> str:
    return os.path.join(run_path, FOLDER)


def _variable_groups(model) -> dict:
    return {"model": model.variables, "optimizer": model.optimizer.variables}


def save_checkpoint(run_path: str, model, epoch: int) -> str:
    """Write the checkpoint after `epoch` completed epochs; returns its path."""
    import keras

    def fill(f):
        for group_name, variables in _variable_groups(model).items():
            group = f.create_group(group_name)
            for index, variable in enumerate(variables):
                dataset = group.create_dataset(str(index), data=keras.ops.convert_to_numpy(variable.value))
                dataset.attrs["path"] = variable.path

    return _write(run_path, epoch, fill)


def save_array_checkpoint(run_path: str, groups: dict[str, dict[str, np.ndarray]], epoch: int) -> str:
    """The checkpoint of a run whose state is plain arrays ({group: {name: array}}), not a Keras model
    (the diversity study's metalearning: activation networks and their momentum); `epoch` counts its steps."""

    def fill(f):
        for group_name, arrays in groups.items():
            group = f.create_group(group_name)
            for name, array in arrays.items():
                group.create_dataset(name, data=np.asarray(array))

    return _write(run_path, epoch, fill)


def _write(run_path: str, epoch: int, fill) -> str:
    folder = _folder(run_path)
    with atomic.writing(folder):
        os.makedirs(folder, exist_ok=True)
    name = f"epoch{epoch}.h5"
    path = os.path.join(folder, name)
    with atomic.h5_file(path) as f:
        f.attrs["epoch"] = epoch
        fill(f)
    atomic.write_text(os.path.join(folder, STATE_FILE), json.dumps({"epoch": epoch, "file": name}) + "\n")
    for old in os.listdir(folder):
        if old.startswith("epoch") and old != name and (old.endswith(".h5") or old.endswith(atomic.PARTIAL)):
            os.remove(os.path.join(folder, old))
    return path


def checkpoint_epoch(run_path: str) -> int:
    """Completed epochs of the newest checkpoint (0: none yet)."""
    path = os.path.join(_folder(run_path), STATE_FILE)
    if not os.path.exists(path):
        return 0
    try:
        with open(path) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot read {path} ({error}); the run cannot be resumed") from None


def load_checkpoint(run_path: str, model) -> int:
    """Restore model and optimizer from the newest checkpoint; returns its epoch."""
    with open(os.path.join(_folder(run_path), STATE_FILE)) as f:
        state = json.load(f)
    model.optimizer.build(model.trainable_variables)
    with h5py.File(os.path.join(_folder(run_path), state["file"]), "r") as f:
        for group_name, variables in _variable_groups(model).items():
            group = f[group_name]
            if len(group) != len(variables):
                raise UsageError(f"checkpoint {state['file']} holds {len(group)} {group_name} variables, the model "
                                 f"{len(variables)}: it was written by a different network")
            for index, variable in enumerate(variables):
                variable.assign(np.asarray(group[str(index)]))
    return int(state["epoch"])


def load_array_checkpoint(run_path: str) -> tuple[dict[str, dict[str, np.ndarray]], int]:
    """The arrays of the newest checkpoint written by save_array_checkpoint, and its epoch."""
    with open(os.path.join(_folder(run_path), STATE_FILE)) as f:
        state = json.load(f)
    with h5py.File(os.path.join(_folder(run_path), state["file"]), "r") as f:
        groups = {name: {key: np.asarray(dataset) for key, dataset in group.items()} for name, group in f.items()}
    return groups, int(state["epoch"])
