"""Recorded diversity-study runs (Choudhary et al. 2022) as tidy pandas DataFrames.

A metalearning run directory holds history.h5 (one row per outer step 1..S: outer_loss,
test_acc, metagradient_norm_i, activation_distance, ...) and activations.h5 (f of shape
(S+1, n, K): every learned f_i on the grid x after s outer steps, row 0 the initial functions;
reference/diversity.md §1.8). activations.h5 may be flushed only at checkpoints, so its last
step can lag history's. Its `compare/` folder holds the pure / diverse / base comparison of
`experiment.py diversity compare`; a validation run directory (config.json with an act_path)
holds one arm's runs.csv and results.json (§2.2-2.3).
"""

import json
import os
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from lib.analysis.files import read_config, run_labels
from lib.errors import UsageError
from lib.storage.epoch_table import FIRST_EPOCH, read_epoch_table

METALEARNING, VALIDATION = "metalearning", "validation"
EXAMPLE_RUN = "model_history/mnist1d/meta_sin_n2_seed100"


@dataclass(frozen=True)
class DiversityRun:
    path: str
    label: str
    config: dict
    kind: str  # METALEARNING or VALIDATION
    history: pd.DataFrame | None = None  # metalearning: one row per outer step (column `step`)
    functions: np.ndarray | None = None  # metalearning: (rows, n, K), row s = f_i after step first_step + s
    grid: np.ndarray | None = None  # metalearning: the x grid (K,)
    first_step: int = 0
    arms: pd.DataFrame | None = None  # arm, runs, test_acc_mean, test_acc_std[, diff_*]: compare/ or validation

    @property
    def last_step(self) -> int:
        return self.first_step + len(self.functions) - 1


def load_diversity_runs(paths: list[str]) -> list[DiversityRun]:
    """Read and check every run before any frame is built; labels are the directory names
    (`<parent>/<name>` where names repeat, then the paths)."""
    return [_load(path, label) for path, label in zip(paths, run_labels(paths))]


def _load(path: str, label: str) -> DiversityRun:
    config = read_config(path, EXAMPLE_RUN)
    if not isinstance(config, dict) or config.get("study") != "diversity":
        raise UsageError(f"{path} is not a diversity-study run (its config.json does not name study 'diversity')")
    if config.get("act_path"):
        return _load_validation(path, label, config)
    table, first = _read_table(path, "history.h5", "history")
    per_step = pd.DataFrame(table)
    per_step.insert(0, "step", np.arange(first, first + len(per_step)))
    table, first_step = _read_table(path, "activations.h5", "activations")
    functions = table.get("f")
    activations_path = os.path.join(path, "activations.h5")
    if functions is None or functions.ndim != 3 or not len(functions):
        raise UsageError(f"{activations_path} holds no learned functions (dataset 'f' of shape (steps + 1, n, K))")
    with h5py.File(activations_path, "r") as f:
        grid = np.asarray(f.attrs.get("grid", []), dtype=np.float64)
    if grid.shape != functions.shape[2:]:
        raise UsageError(f"{activations_path}: its 'grid' attribute has {grid.size} points, its functions "
                         f"{functions.shape[2]}")
    return DiversityRun(path, label, config, METALEARNING, per_step, functions, grid, first_step, _compare_results(path))


def _read_table(path: str, name: str, kind: str) -> tuple[dict, int]:
    """The rows of an EpochTableWriter file of `kind` and the step of its row 0, or one UsageError."""
    file = os.path.join(path, name)
    if not os.path.isfile(file):
        raise UsageError(f"{path} has no {name}; analyze needs a metalearning run of `experiment.py diversity` "
                         "(or a validation run, with --act_path)")
    try:
        with h5py.File(file, "r") as f:
            found, first = f.attrs.get("kind"), int(f.attrs.get(FIRST_EPOCH, 1))
    except OSError as error:
        raise UsageError(f"cannot read {file}: not a readable HDF5 file, perhaps truncated "
                         f"({error.__class__.__name__})") from None
    if found != kind:
        raise UsageError(f"{file} is not an initlab {kind} file (its 'kind' attribute is {found!r})")
    return read_epoch_table(file), first


def _read_csv(file: str, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        table = pd.read_csv(file)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {file}: {error}".splitlines()[0]) from None
    missing = [column for column in columns if column not in table]
    if missing:
        raise UsageError(f"{file} lacks the column{'s' * (len(missing) > 1)} {', '.join(missing)}")
    return table


def _arm_statistics(table: pd.DataFrame, keys: list[str], arm: str | None = None) -> pd.DataFrame:
    """Per arm, the mean and sample standard deviation over runs of the test accuracy after each
    run's last epoch (rows of a runs.csv; `keys` identify a run, `arm` names the arm of a file
    without an arm column)."""
    finals = table.sort_values("epoch").groupby(keys, sort=False).tail(1)
    finals = finals.assign(arm=arm) if arm is not None else finals
    grouped = finals.groupby("arm", sort=False)["test_acc"]
    return grouped.agg(runs="size", test_acc_mean="mean", test_acc_std="std").reset_index()


def _compare_results(path: str) -> pd.DataFrame | None:
    """The arms of RUN_DIR/compare/summary.csv, else of compare/runs.csv; None without compare."""
    folder = os.path.join(path, "compare")
    summary_file, runs_file = os.path.join(folder, "summary.csv"), os.path.join(folder, "runs.csv")
    if os.path.isfile(summary_file):
        return _read_csv(summary_file, ("arm", "test_acc_mean", "test_acc_std"))
    if os.path.isfile(runs_file):
        return _arm_statistics(_read_csv(runs_file, ("arm", "run", "epoch", "test_acc")), ["arm", "run"])
    return None


def validation_arm(config: dict) -> str:
    """The arm a validation run trains: `diverse`, `base`, or `pure<k>` (--validation_mode k)."""
    mode = str(config.get("validation_mode", "diverse"))
    return mode if mode in ("diverse", "base") else f"pure{mode}"


def _load_validation(path: str, label: str, config: dict) -> DiversityRun:
    """A validation run's arm from results.json, else from runs.csv (a run stopped before its end)."""
    arm = validation_arm(config)
    results_file, runs_file = os.path.join(path, "results.json"), os.path.join(path, "runs.csv")
    if os.path.isfile(results_file):
        try:
            with open(results_file) as f:
                results = json.load(f)
            arms = pd.DataFrame([{"arm": arm, "runs": int(results["runs"]), "test_acc_mean": float(results["test_acc_mean"]),
                                  # one run has no standard deviation: results.json holds null
                                  "test_acc_std": float("nan") if results["test_acc_std"] is None
                                  else float(results["test_acc_std"])}])
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise UsageError(f"cannot read {results_file}: {error!r} (expected runs, test_acc_mean, test_acc_std)") from None
    elif os.path.isfile(runs_file):
        arms = _arm_statistics(_read_csv(runs_file, ("run", "epoch", "test_acc")), ["run"], arm)
    else:
        raise UsageError(f"{path} is a validation run (--act_path) without results.json or runs.csv; "
                         "it stopped before its first epoch")
    return DiversityRun(path, label, config, VALIDATION, arms=arms)


def metalearning(runs: list[DiversityRun]) -> list[DiversityRun]:
    return [run for run in runs if run.kind == METALEARNING]


def history(runs: list[DiversityRun]) -> pd.DataFrame:
    """One row per run x outer step: every recorded key (outer_loss, test_acc as a fraction,
    metagradient_norm_1..n, activation_distance, ...); NaN where a run lacks a key."""
    frames = [run.history.assign(run=run.label) for run in metalearning(runs)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "step"])
    return table[["run", *(column for column in table if column != "run")]]


def default_steps(last: int) -> tuple[int, ...]:
    """Initial, middle and last outer step (fewer where they coincide)."""
    return tuple(sorted({0, last // 2, last}))


def chosen_steps(runs: list[DiversityRun], steps: tuple[int, ...] | None) -> dict[str, tuple[int, ...]]:
    """The steps of each metalearning run's learned-activation panels: `steps`, or default_steps."""
    chosen = {}
    for run in metalearning(runs):
        if steps is None:
            chosen[run.label] = default_steps(run.last_step)
            continue
        beyond = [step for step in steps if not run.first_step <= step <= run.last_step]
        if beyond:
            raise UsageError(f"--activation_steps {beyond[0]}: {run.path}/activations.h5 records outer steps "
                             f"{run.first_step}..{run.last_step}")
        chosen[run.label] = tuple(sorted(set(steps)))
    return chosen


def learned_functions(runs: list[DiversityRun], steps: dict[str, tuple[int, ...]]) -> pd.DataFrame:
    """Long format, one row per run x step x activation x grid point: f = f_activation(x) after
    `step` outer steps (activation numbered 1..n, as --validation_mode k); `base` is the run's
    base function (sin, tanh or elu)."""
    frames = []
    for run in metalearning(runs):
        n, points = run.functions.shape[1:]
        for step in steps[run.label]:
            frames.append(pd.DataFrame({"run": run.label, "base": run.config.get("activation"), "step": step,
                                        "activation": np.repeat(np.arange(1, n + 1), points),
                                        "x": np.tile(run.grid, n), "f": run.functions[step - run.first_step].ravel()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "base", "step", "activation", "x", "f"])


def mean_pairwise_rms(functions: np.ndarray) -> np.ndarray:
    """(..., n, K) -> (...): the mean over pairs i < j of the RMS over the grid of f_i - f_j;
    NaN for n = 1 (no pair). The diversification measure of history's activation_distance."""
    n = functions.shape[-2]
    distances = [np.sqrt(np.mean((functions[..., i + 1:, :] - functions[..., i:i + 1, :]) ** 2, axis=-1))
                 for i in range(n - 1)]
    if not distances:
        return np.full(functions.shape[:-2], np.nan)
    return np.mean(np.concatenate(distances, axis=-1), axis=-1)


def pairwise_distance(runs: list[DiversityRun]) -> pd.DataFrame:
    """One row per run x recorded outer step: `distance`, recomputed from activations.h5 (so also
    for runs whose history lacks activation_distance), and `n`."""
    frames = [pd.DataFrame({"run": run.label, "step": np.arange(run.first_step, run.last_step + 1),
                            "n": run.functions.shape[1], "distance": mean_pairwise_rms(run.functions)})
              for run in metalearning(runs)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "step", "n", "distance"])


def comparison_group(run: DiversityRun) -> str:
    """The group of a run's arms: the metalearning run itself; for a validation run the run that
    learned its act_path (the file's folder for initlab's activations.txt/.h5, else the file's
    name), with the dataset where the activations were transferred."""
    if run.kind == METALEARNING:
        return run.label
    act_path = os.path.normpath(run.config["act_path"])
    stem, _ = os.path.splitext(os.path.basename(act_path))
    source = os.path.basename(os.path.dirname(os.path.abspath(act_path))) if stem == "activations" else stem
    dataset = run.config.get("dataset", "mnist1d")
    return source if dataset == "mnist1d" else f"{source} on {dataset}"


def arm_order(arm: str) -> tuple:
    """pure1, pure2, ..., pure10, diverse, base, then anything else."""
    if arm.startswith("pure") and arm[4:].isdigit():
        return 0, int(arm[4:]), arm
    return {"diverse": 1, "base": 2}.get(arm, 3), 0, arm


def comparison(runs: list[DiversityRun]) -> pd.DataFrame:
    """One row per group x arm: runs, test_acc_mean, test_acc_std (fractions) and, from compare's
    summary, the paired diverse - arm differences; `run` is the directory the row comes from."""
    frames = [run.arms.assign(group=comparison_group(run), run=run.label) for run in runs if run.arms is not None]
    if not frames:
        return pd.DataFrame(columns=["group", "arm", "run", "runs", "test_acc_mean", "test_acc_std"])
    table = pd.concat(frames, ignore_index=True)
    groups = list(dict.fromkeys(table["group"]))  # in the order of the runs given
    table = table.iloc[sorted(range(len(table)), key=lambda row: (groups.index(table["group"].iloc[row]),
                                                                  arm_order(table["arm"].iloc[row])))]
    leading = ["group", "arm", "run", "runs", "test_acc_mean", "test_acc_std"]
    return table[[*leading, *(column for column in table if column not in leading)]].reset_index(drop=True)


def _value_at(table: pd.DataFrame, column: str, position: int) -> float:
    values = table[column].dropna() if column in table else pd.Series(dtype=np.float64)
    return float(values.iloc[position]) if len(values) else np.nan


def summary(runs: list[DiversityRun], steps: pd.DataFrame, distance: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """One row per run: outer steps done, the first and last outer loss, the last test accuracy
    (fraction), the recomputed distance at step 0 and at the last recorded step (distance_end_step),
    and the mean and standard deviation of each arm's test accuracy (<arm>_test_acc_mean/_std)
    from compare/ or, for a validation run, its own arm."""
    rows = []
    for run in runs:
        row = {"run": run.label, "kind": run.kind, "dataset": run.config.get("dataset")}
        if run.kind == METALEARNING:
            own = steps[steps["run"] == run.label].sort_values("step")
            curve = distance[distance["run"] == run.label].sort_values("step")
            row.update({"activation": run.config.get("activation"), "n_activations": run.functions.shape[1],
                        "steps_done": int(own["step"].max()) if len(own) else 0,
                        "outer_loss_first": _value_at(own, "outer_loss", 0), "outer_loss_last": _value_at(own, "outer_loss", -1),
                        "test_acc_last": _value_at(own, "test_acc", -1), "distance_start": _value_at(curve, "distance", 0),
                        "distance_end": _value_at(curve, "distance", -1), "distance_end_step": run.last_step})
        for _, arm in arms[arms["run"] == run.label].iterrows():
            row[f"{arm['arm']}_test_acc_mean"] = arm["test_acc_mean"]
            row[f"{arm['arm']}_test_acc_std"] = arm["test_acc_std"]
        rows.append(row)
    return pd.DataFrame(rows)
