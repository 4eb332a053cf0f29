"""The files of a metalearning run, written as the outer steps go (SPEC: docs/studies/diversity.md).

history.h5 / history.csv  one row of scalars per outer step (rewritten atomically every step)
tb/                       the same scalars for TensorBoard
activations.h5            every learned f_i on the x grid, one (n, K) row per outer step from step 0,
                          with the grid as the root attribute `grid`; written at each checkpoint
activations.txt           the latest learned functions in the original's text format, with the grid
                          in a comment line that the original's loader skips
checkpoints/              the activation networks and their momentum (lib.runs.checkpoint)
Resuming cuts every table back to the checkpoint's step (lib.runs.resume), so nothing is written twice.
"""

from lib.runs.checkpoint import save_array_checkpoint
from lib.runs.history import HistoryFiles
from lib.storage.epoch_table import EpochTableWriter
from lib.storage.tensorboard_scalars import TaggedScalars
from lib.studies.diversity import activation_files
from lib.studies.diversity.metalearn import MOMENTUM, OUTER, OuterState

TRAJECTORY = "activations.h5"
TEXT = "activations.txt"


class MetaWriters:
    def __init__(self, run_dir, config_json: str, grid, initial_functions, *, resume: bool):
        self.run_dir, self.grid = run_dir, grid
        self.history = HistoryFiles(run_dir.file("history.h5"), run_dir.file("history.csv"), config_json, resume=resume)
        self.scalars = TaggedScalars(run_dir.file("tb"))
        self.trajectory = EpochTableWriter(run_dir.file(TRAJECTORY), config_json=config_json, kind="activations",
                                           first_epoch=0, resume=resume)
        if not resume:
            self.trajectory.attrs["grid"] = grid
            self.trajectory.append({"f": initial_functions})

    def append(self, step: int, row: dict, functions) -> None:
        self.history.append(step, row)
        self.scalars.write(step, row)
        self.trajectory.append({"f": functions}, write=False)

    def checkpoint(self, state: OuterState, functions) -> None:
        """Every file first, the checkpoint last: a checkpoint means every file holds its step."""
        self.trajectory.flush()
        activation_files.save_text(self.run_dir.file(TEXT), self.grid, functions)
        save_array_checkpoint(self.run_dir.path, {OUTER: state.outer, MOMENTUM: state.momentum}, state.step)

    def close(self) -> None:
        self.history.close()
        self.scalars.close()
