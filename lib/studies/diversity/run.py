"""The diversity study's run: metalearn the activation functions, or (with --act_path) validate them.

No Keras at import time: the CLI imports this module only to run.
"""

import dataclasses
import os
import time

import numpy as np

from lib.config import to_json
from lib.errors import RunDiverged, UsageError
from lib.studies.diversity.config import DEBUG_EPOCHS, DEBUG_EXAMPLES, DEBUG_STEPS, DiversityConfig, resolve, run_path

DATA_PATH_VARIABLE = "INITLAB_DATA_PATH"  # lib.datasets.keras_files reads its files from there when set


def load_mnist1d(config: DiversityConfig):
    """MNIST1D's 4,000 training and 1,000 test signals, as the original's frozen file (reference §4)."""
    from lib.datasets import DATASETS

    splits = DATASETS.build("mnist1d", seed=config.seed, validation_size=0)
    train, test = splits.train, splits.test
    if config.debug:
        train, test = train.head(DEBUG_EXAMPLES), test.head(DEBUG_EXAMPLES)
    return train, test


def run(config: DiversityConfig, argv: list[str]) -> int:
    config = resolve(config)
    if config.data_path:
        os.environ[DATA_PATH_VARIABLE] = config.data_path
    if config.is_validation:
        from lib.studies.diversity.validation import run_validation

        return run_validation(config, argv)
    configs = [config] if config.runs == 1 else [
        dataclasses.replace(config, seed=config.seed + r, runs=1, name=config.name and f"{config.name}_run{r}")
        for r in range(config.runs)]  # one run directory per seed: each resumes on its own
    if config.debug:
        configs = [dataclasses.replace(c, steps=DEBUG_STEPS, epochs=DEBUG_EPOCHS) for c in configs]
    else:
        from lib.runs.run_dir import check_run_path

        for each in configs:  # every path checked before any work
            check_run_path(run_path(each), overwrite=config.overwrite, resume=config.resume)
    for each in configs:
        metalearn(each, argv)
    return 0


def metalearn(config: DiversityConfig, argv: list[str]) -> dict:
    """One metalearning run (reference/diversity.md §1), in its run directory unless --debug."""
    import keras

    from lib.environment import check_backend
    from lib.runs.checkpoint import load_array_checkpoint
    from lib.runs.interruption import Interruption
    from lib.runs.run_dir import open_run
    from lib.studies.diversity.metalearn import MOMENTUM, OUTER, OuterLoop, OuterState, grid, is_finite, learned_functions
    from lib.studies.diversity.writers import MetaWriters

    check_backend(config.backend)
    keras.utils.set_random_seed(config.seed)
    train, test = load_mnist1d(config)
    if config.debug:
        config = dataclasses.replace(config, inner_batch_size=min(config.inner_batch_size, len(train.x)))
    if config.inner_batch_size > len(train.x):
        raise UsageError(f"--inner_batch_size {config.inner_batch_size} is more than the {len(train.x)} training examples")
    path = run_path(config)
    run_dir, start = (None, 0) if config.debug else open_run(path, config, argv)
    state = OuterState.initial(config)
    if start:
        arrays, state.step = load_array_checkpoint(path)
        state.outer, state.momentum = arrays[OUTER], arrays[MOMENTUM]
    print(f"diversity: metalearning {config.n_activations} x ({config.activation} + 0.2 MLP 1-{config.outer_hidden_size}-1), "
          f"classifier {train.x.shape[1]}-{config.inner_hidden_size}-{train.y.shape[1]}, {config.steps} outer steps of "
          f"{config.epochs} inner epochs ({config.metagradient} metagradient), {config.backend}"
          + (f" -> {path}" if run_dir else " (debug: nothing saved)") + (f", resumed after step {start}" if start else ""),
          flush=True)
    writers = None if run_dir is None else MetaWriters(run_dir, to_json(config), grid(config),
                                                       learned_functions(config, state.outer), resume=start > 0)
    loop, interruption, started = OuterLoop(config, train, test), Interruption(), time.perf_counter()
    saved_step = start
    try:
        with interruption.handling(None):
            while state.step < config.steps:
                row, functions = loop.step(state)
                if not is_finite(row, state):
                    raise RunDiverged(f"diverged at outer step {state.step}: non-finite loss, metagradient or weights")
                _progress(config, state.step, row, started, start)
                if writers is not None:
                    writers.append(state.step, row, functions)
                    if state.step % config.checkpoint_every == 0 or state.step == config.steps or interruption.requested:
                        writers.checkpoint(state, functions)
                        saved_step = state.step
                if interruption.requested and state.step < config.steps:
                    raise interruption.error()
    except BaseException as error:
        if writers is not None:
            writers.close()
            run_dir.set_stopped(error, last_epoch=saved_step)
        raise
    if writers is None:
        return {}
    writers.close()
    results = _results(run_dir, config)
    run_dir.write_json("results.json", results)
    run_dir.set_status("done", last_epoch=config.steps)
    print(f"outer loss {results['outer_loss_first']:.4f} -> {results['outer_loss_last']:.4f}, inner test accuracy "
          f"{100 * results['test_acc_last']:.1f}%, activation distance {results['activation_distance_initial']:.4f} -> "
          f"{results['activation_distance_final']:.4f}; learned functions in {run_dir.file('activations.txt')}", flush=True)
    return results


def _progress(config, step: int, row: dict, started: float, start: int) -> None:
    if not (config.verbose or step % config.print_every == 0 or step in (start + 1, config.steps)):
        return
    norms = " ".join(f"{row[f'metagradient_norm_{i + 1}']:.3g}" for i in range(config.n_activations))
    per_step = (time.perf_counter() - started) / (step - start)
    print(f"step {step}/{config.steps}  outer loss {row['outer_loss']:.4f}  final inner loss {row['final_inner_loss']:.4f}  "
          f"|metagradient| {norms}  test acc {100 * row['test_acc']:.1f}%  distance {row['activation_distance']:.4f}  "
          f"({per_step:.2f} s/step, {per_step * (config.steps - step) / 60:.1f} min left)", flush=True)


def _results(run_dir, config) -> dict:
    """results.json of a finished run, from its whole history (a resumed run's too), and --save_curve's text files."""
    from lib.storage.epoch_table import read_epoch_table
    from lib.studies.diversity.metalearn import pairwise_distance
    from lib.studies.diversity.writers import TRAJECTORY

    history = read_epoch_table(run_dir.file("history.h5"))
    distances = read_epoch_table(run_dir.file(TRAJECTORY))["f"]
    results = {"steps": config.steps, "outer_loss_first": float(history["outer_loss"][0]),
               "outer_loss_last": float(history["outer_loss"][-1]), "test_acc_last": float(history["test_acc"][-1]),
               "test_acc_best": float(np.max(history["test_acc"])),
               "activation_distance_initial": pairwise_distance(distances[0]),
               "activation_distance_final": pairwise_distance(distances[-1])}
    if config.save_curve:
        folder = run_dir.file("curves")
        os.makedirs(folder, exist_ok=True)
        norms = np.stack([history[f"metagradient_norm_{i + 1}"] for i in range(config.n_activations)], axis=1)
        for name, values in (("outer_losses", history["outer_loss"]), ("test_accuracy", 100 * history["test_acc"]),
                             ("grad_norms", norms)):
            np.savetxt(os.path.join(folder, f"{name}.txt"), values)
    return results
