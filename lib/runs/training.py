"""The shared training runner: fit with the run's callbacks, evaluate on the test set, record.

Studies build and compile their model and its input pipeline; this module owns what every
run does the same way: per-epoch history files, TensorBoard events, run status, and the final
test-set evaluation written to results.json.

On several hosts (lib.distribution) every process runs this with the same arguments and computes
everything the training collectives need (the steps, validation, the test-set evaluation, the
divergence checks, loading the checkpoint), while only process 0 writes: its run is a RunDirectory,
the others' a lib.distribution.run_files.RunFiles.
"""

import sys

import keras

from callbacks.best_weights import BestValidationWeights
from callbacks.divergence_guard import DivergenceGuard, UpdateDivergenceGuard
from callbacks.epoch_checkpoint import EpochCheckpoint
from callbacks.epoch_history import EpochHistory
from callbacks.epoch_test_evaluation import EpochTestEvaluation
from callbacks.stop_on_interruption import StopOnInterruption
from lib.datasets.splits import Split
from lib.distribution.hosts import barrier, writes_run_files
from lib.errors import RunDiverged
from lib.runs.checkpoint import load_checkpoint
from lib.runs.history import HistoryFiles
from lib.runs.interruption import Interruption
from lib.runs.run_dir import RunDirectory
from lib.storage.epoch_table import read_epoch_table
from lib.storage.tensorboard_scalars import TensorBoardScalars

EVALUATION_BATCH_SIZE = 500  # evaluation only: a larger batch gives the same mean, faster
BEST_WEIGHTS = "checkpoints/best_validation.weights.h5"  # test_on_best's model


def progress_verbosity() -> int:
    """A live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def train_and_evaluate(model: keras.Model, inputs: dict, *, validation: Split, test: Split | None,
                       run: RunDirectory | None, config_json: str, epochs: int, start_epoch: int = 0,
                       validation_is_test: bool = False, check_every_update: bool = True, test_on_best: bool = False,
                       callbacks: list | None = None, verbose: int | None = None) -> dict:
    """Fit on `inputs` (from lib.datasets.pipeline.fit_inputs), then return the results dict (also written to the run).

    With a run directory: the run is checkpointed after every epoch; `start_epoch` > 0 continues
    from that checkpoint (weights, optimizer, random-generator states) and from the same
    position of the training stream. A NaN/Inf loss or weights stop the run as `diverged`
    (RunDiverged) at the end of the epoch, or after the update with `check_every_update`
    (which costs ~1% of a tiny update: see callbacks.divergence_guard); SIGINT/SIGTERM after
    the update in progress as `interrupted` (RunInterrupted, lib.runs.interruption). Either way
    every file keeps its complete epochs. With a `test` split the test set is also evaluated after every
    epoch, as one batch (history keys `test_loss`, `test_acc`; callbacks.epoch_test_evaluation) for
    Glorot Figs. 11-12. Studies that
    validate on the test set itself, as the ConstNet code does, pass it as `validation` with
    `validation_is_test`: results then name it `test`.

    With `test_on_best` (the weight-norm code's protocol) the test set is evaluated once, at the end,
    on the weights of the best validation epoch (BEST_WEIGHTS in the run; without a run directory,
    the final weights), and a run that diverges gets that evaluation too, in results.json with
    `diverged` true, before RunDiverged is raised.
    """
    steps = inputs["steps_per_epoch"]
    guard = (UpdateDivergenceGuard if check_every_update else DivergenceGuard)(steps)
    interruption = Interruption()
    callbacks = [StopOnInterruption(interruption), guard, *(callbacks or [])]
    checkpoint = best = None
    writes = run is not None and writes_run_files()
    verbose = (progress_verbosity() if writes_run_files() else 0) if verbose is None else verbose

    def completed_epochs() -> int:
        return checkpoint.last_epoch or start_epoch if checkpoint is not None else start_epoch

    try:  # from the first file on: whatever stops the run (a full disk, a bad checkpoint) is its final status
        if run is not None:
            if test is not None and not test_on_best:
                callbacks.insert(2, EpochTestEvaluation(test.x, test.y))  # on every host: a step of the whole job
            resume = start_epoch > 0
            if writes:
                callbacks.append(EpochHistory(HistoryFiles(run.file("history.h5"), run.file("history.csv"),
                                                           config_json, resume=resume),
                                              TensorBoardScalars(run.file("tb"))))
                if test_on_best:  # (a study with test_on_best trains on one host)
                    best = BestValidationWeights(run.file(BEST_WEIGHTS), skip=lambda: guard.reason is not None,
                                                 **_best_so_far(run) if resume else {})
                    callbacks.append(best)
                checkpoint = EpochCheckpoint(run.path, skip=lambda: guard.reason is not None)
                callbacks.append(checkpoint)  # last: a checkpoint means every file holds its epoch
            if resume:
                load_checkpoint(run.path, model)
                inputs["x"].first_batch = start_epoch * steps
        with interruption.handling(model):
            history = model.fit(**inputs, epochs=epochs, initial_epoch=start_epoch,
                                validation_data=(validation.x, validation.y),
                                validation_batch_size=EVALUATION_BATCH_SIZE, callbacks=callbacks, verbose=verbose)
            if guard.reason is not None:
                if test_on_best and run is not None:
                    run.write_json("results.json", {**_best_results(run, model, test, best, epochs), "diverged": True,
                                                    "epochs_completed": completed_epochs()})
                raise RunDiverged(f"diverged: {guard.reason}")
            if interruption.requested and start_epoch + len(history.epoch) < epochs:
                raise interruption.error()  # the signal came while fit was starting
            if test_on_best and run is not None:
                best_results = _best_results(run, model, test, best, epochs)
                scores = None
            else:
                scores = None if test is None else _evaluate(model, test)
        # a resumed run's earlier epochs are in its history.h5 (also a run resumed after its last epoch, stopped
        # before its results: fit then trains nothing and its History is empty); on several hosts, a process
        # other than 0 reads it only when resuming, when the run directory must be one every host sees
        validation_history = _validation_history(run if writes or start_epoch > 0 else None, history)
        label = "test" if validation_is_test else "val"
        results = {"epochs": epochs,
                   f"final_{label}_acc": float(validation_history["val_acc"][-1]),
                   f"best_{label}_acc": float(max(validation_history["val_acc"])),
                   f"final_{label}_loss": float(validation_history["val_loss"][-1])}
        if scores is not None:
            results.update(_test_results(scores))
        if test_on_best and run is not None:
            results.update(best_results, diverged=False, epochs_completed=epochs)
        if writes:
            run.write_json("results.json", results)
            run.set_status("done", last_epoch=epochs)
    except BaseException as error:
        _close(callbacks)
        if writes:
            run.set_stopped(error, last_epoch=completed_epochs())
        raise
    barrier("run files written")  # several hosts: nobody leaves (JAX's 5 s shutdown barrier) before process 0 is done
    return results


def _evaluate(model: keras.Model, test: Split) -> dict:
    return model.evaluate(test.x, test.y, batch_size=EVALUATION_BATCH_SIZE, return_dict=True, verbose=0)


def _test_results(scores: dict) -> dict:
    return {"test_loss": float(scores["loss"]), "test_acc": float(scores["acc"]),
            "test_error_percent": 100.0 * (1.0 - float(scores["acc"]))}


def _best_so_far(run: RunDirectory) -> dict:
    """BestValidationWeights' state for a resumed run: the best validation accuracy of its earlier epochs."""
    val_acc = read_epoch_table(run.file("history.h5"))["val_acc"]
    return {"best": float(max(val_acc)), "best_epoch": int(val_acc.argmax()) + 1} if len(val_acc) else {}


def _best_results(run: RunDirectory, model: keras.Model, test: Split, best: BestValidationWeights, epochs: int) -> dict:
    """The test scores of the best validation epoch's weights (nulls when no epoch was kept), loaded into
    `model`, whose own weights are no longer needed: the run checkpoint holds them."""
    results = {"epochs": epochs, "best_epoch": best.best_epoch, "best_val_acc": None if best.best_epoch is None
               else best.best, "test_loss": None, "test_acc": None, "test_error_percent": None}
    if best.best_epoch is not None:
        model.load_weights(run.file(BEST_WEIGHTS))
        results.update(_test_results(_evaluate(model, test)))
    return results


def _validation_history(run, history: keras.callbacks.History) -> dict:
    """{"val_acc", "val_loss"} of every epoch of the run: from its history.h5 (`run`), else from this fit."""
    if run is not None:
        table = read_epoch_table(run.file("history.h5"))
        return {key: table[key] for key in ("val_acc", "val_loss")}
    return {key: history.history[key] for key in ("val_acc", "val_loss")}


def _close(callbacks: list) -> None:
    """Close the writers of a run that stops early, so every file is flushed and closed."""
    for callback in callbacks:
        close = getattr(callback, "close", None)
        if close is not None:
            close()


