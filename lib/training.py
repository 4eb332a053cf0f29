"""The shared training runner: fit with the run's callbacks, evaluate on the test set, record.

Studies build and compile their model and its input pipeline; this module owns what every
run does the same way: per-epoch history files, TensorBoard events, run status, and the final
test-set evaluation written to results.json.
"""

import sys

import keras

from callbacks.epoch_history import EpochHistory
from callbacks.epoch_test_evaluation import EpochTestEvaluation
from lib.datasets.splits import Split
from lib.history import HistoryFiles
from lib.run_dir import RunDirectory
from lib.tensorboard_scalars import TensorBoardScalars

EVALUATION_BATCH_SIZE = 500  # evaluation only: a larger batch gives the same mean, faster


def progress_verbosity() -> int:
    """A live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def train_and_evaluate(model: keras.Model, inputs: dict, *, validation: Split, test: Split | None,
                       run: RunDirectory | None, config_json: str, epochs: int, validation_is_test: bool = False,
                       callbacks: list | None = None, verbose: int | None = None) -> dict:
    """Fit on `inputs` (from lib.pipeline.fit_inputs), then return the results dict (also written to the run).

    With a `test` split and a run directory, the test split is also evaluated after every
    epoch (history keys `test_loss`, `test_acc`) for the paper's test-error curves (Glorot
    Figs. 11, 12). Studies that validate on the test set itself, as the ConstNet code does,
    pass it as `validation` with `validation_is_test`: results then name it `test`.
    """
    callbacks = list(callbacks or [])
    if run is not None:
        if test is not None:
            callbacks.insert(0, EpochTestEvaluation(test.x, test.y, EVALUATION_BATCH_SIZE))
        callbacks.append(EpochHistory(HistoryFiles(run.file("history.h5"), run.file("history.csv"), config_json),
                                      TensorBoardScalars(run.file("tb"))))
    verbose = progress_verbosity() if verbose is None else verbose
    try:
        history = model.fit(**inputs, epochs=epochs, validation_data=(validation.x, validation.y),
                            validation_batch_size=EVALUATION_BATCH_SIZE, callbacks=callbacks, verbose=verbose)
        scores = None if test is None else model.evaluate(test.x, test.y, batch_size=EVALUATION_BATCH_SIZE,
                                                          return_dict=True, verbose=0)
    except KeyboardInterrupt:
        if run is not None:
            run.set_status("interrupted", reason="KeyboardInterrupt")
        raise
    except Exception as error:
        if run is not None:
            run.set_status("failed", reason=f"{type(error).__name__}: {error}".splitlines()[0])
        raise
    label = "test" if validation_is_test else "val"
    results = {"epochs": epochs,
               f"final_{label}_acc": float(history.history["val_acc"][-1]),
               f"best_{label}_acc": float(max(history.history["val_acc"])),
               f"final_{label}_loss": float(history.history["val_loss"][-1])}
    if scores is not None:
        results.update(test_loss=float(scores["loss"]), test_acc=float(scores["acc"]),
                       test_error_percent=100.0 * (1.0 - float(scores["acc"])))
    if run is not None:
        run.write_json("results.json", results)
        run.set_status("done", last_epoch=epochs)
    return results
