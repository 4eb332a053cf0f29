"""`experiment.py diversity compare RUN_DIR`: every validation arm of one set of learned functions on the same seeds.

The paper's claim is that diverse networks beat their pure counterparts (reference/diversity.md
§2.2, §5); the original leaves the comparison to separate runs. Here the arms pure1..pure<n>,
diverse and base train on the same seeds (run r: seed + r, so arm a's run r and arm b's run r
start from the same weights and see the same batches), and each arm is compared with diverse by
the paired difference diverse - arm of the final test accuracies, with a 95% t-interval.

Writes <output>/ (default RUN_DIR/compare; for a file, <file without extension>_compare):
runs.csv (rewritten after every epoch), summary.csv and summary.json. The learned functions come
from a metalearning run directory (its activations.h5) or any file activation_files.load reads.
No Keras at import time, so flag errors stay fast.
"""

import json
import os
import shutil
import time

import numpy as np

from lib.config import OneLineParser, non_negative_int, positive_int
from lib.environment import BACKENDS
from lib.errors import RunInterrupted, UsageError
from lib.storage import atomic
from lib.studies.diversity import validation
from lib.studies.diversity.activation_files import load
from lib.studies.diversity.config import BASE, BASES, DIVERSE, DiversityConfig, dataset_name
from lib.studies.diversity.run import DATA_PATH_VARIABLE

ARM_COLUMNS = ("arm", *validation.RUN_COLUMNS)
SUMMARY_COLUMNS = ("arm", "runs", "test_acc_mean", "test_acc_std", "diff_mean", "diff_low", "diff_high")
CONFIDENCE = 0.95


def parser() -> OneLineParser:
    p = OneLineParser(prog="experiment.py diversity compare",
                      description="Train the pure (each learned function k), diverse and base validation networks of "
                                  "one set of learned functions on the same seeds; print mean ± std test accuracy and "
                                  "the paired difference diverse − arm with its 95% t-interval.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a metalearning run directory, or a learned-activation file")
    p.add_argument("--runs", type=positive_int, default=10, help="runs per arm, seeds seed .. seed + runs - 1 (default: 10)")
    p.add_argument("--epochs", type=positive_int, help="training epochs per run (default: the run's --epochs, else 5)")
    p.add_argument("--dataset", type=dataset_name, default="mnist1d", metavar="{MNIST1D,MNIST,CIFAR}",
                   help="where the validation networks train (default: MNIST1D)")
    p.add_argument("--seed", type=non_negative_int, help="first seed (default: the run's --seed, else 100)")
    p.add_argument("--activation", choices=BASES, help="base function of the base arm (default: the run's or the "
                                                       "file name's)")
    p.add_argument("--data_path", metavar="DIR", help="folder holding mnist.npz / cifar-10-batches-py")
    p.add_argument("--output", metavar="DIR", help="output folder (default: RUN_DIR/compare)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    # read by lib.environment.prepare before Keras starts, as for every diversity command; parsed here to check them
    p.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    p.add_argument("--use_gpu", action="store_true", help="run on GPU --gpu_no (default: CPU only, as the original)")
    p.add_argument("--gpu_no", type=non_negative_int, default=0, help="the GPU --use_gpu runs on (default: 0)")
    return p


def paired_interval(first, second, confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """Mean of the paired differences d_r = first_r - second_r and its t-interval
    mean ± t_{(1+confidence)/2, R-1} sd(d) / sqrt(R); no interval for a single pair."""
    from scipy import stats

    differences = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
    mean = float(differences.mean())
    if len(differences) < 2:
        return mean, None, None
    half = stats.t.ppf((1 + confidence) / 2, len(differences) - 1) * differences.std(ddof=1) / np.sqrt(len(differences))
    return mean, float(mean - half), float(mean + half)


def summarize(rows: list[dict], arms: list[str], epochs: int) -> list[dict]:
    """One summary row per arm (SUMMARY_COLUMNS; accuracies as fractions): every arm but diverse gets the
    paired difference diverse - arm over the runs both have."""
    finals = {arm: {row["run"]: row["test_acc"] for row in rows if row["arm"] == arm and row["epoch"] == epochs}
              for arm in arms}
    summary = []
    for arm in arms:
        mean, std = validation.mean_std(list(finals[arm].values())) if finals[arm] else (None, None)
        row = {"arm": arm, "runs": len(finals[arm]), "test_acc_mean": mean, "test_acc_std": std,
               "diff_mean": None, "diff_low": None, "diff_high": None}
        shared = sorted(set(finals[arm]) & set(finals.get(DIVERSE, {})))
        if arm != DIVERSE and shared:
            row["diff_mean"], row["diff_low"], row["diff_high"] = paired_interval(
                [finals[DIVERSE][run] for run in shared], [finals[arm][run] for run in shared])
        summary.append(row)
    return summary


def table(summary: list[dict]) -> str:
    """The summary as text: accuracies and differences in percent (points)."""
    def percent(value, signed=False):
        return "—" if value is None else f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"

    lines = [f"{'arm':<10} {'runs':>4}  {'test acc (%)':<16} {'diverse − arm (points)':<24} 95% CI"]
    for row in summary:
        accuracy = f"{percent(row['test_acc_mean'])} ± {percent(row['test_acc_std'])}"
        difference = "" if row["arm"] == DIVERSE else percent(row["diff_mean"], True)
        interval = "" if row["diff_low"] is None else f"[{percent(row['diff_low'], True)}, {percent(row['diff_high'], True)}]"
        lines.append(f"{row['arm']:<10} {row['runs']:>4}  {accuracy:<16} {difference:<24} {interval}".rstrip())
    return "\n".join(lines)


def run_config(path: str) -> dict:
    """The config.json of a diversity run directory (or of the one holding an activation file); {} if none."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    try:
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) and config.get("study") == "diversity" else {}


def default_output(path: str) -> str:
    return os.path.join(path, "compare") if os.path.isdir(path) else os.path.splitext(path)[0] + "_compare"


def run_compare(argv: list[str]) -> int:
    from lib.runs.interruption import Interruption
    from lib.runs.run_dir import lock_directory, unlock_directory

    args = parser().parse_args(argv)
    learned = load(args.run_dir)
    saved, defaults = run_config(args.run_dir), DiversityConfig()
    base = args.activation or learned.base or saved.get("activation")
    if base not in BASES:
        raise UsageError(f"cannot tell the base function of {args.run_dir} (no run config, and its name is not the "
                         "original's); pass --activation")
    epochs, seed = args.epochs or saved.get("epochs", defaults.epochs), saved.get("seed", defaults.seed)
    seed = seed if args.seed is None else args.seed
    hidden, batch_size = saved.get("inner_hidden_size", defaults.inner_hidden_size), saved.get(
        "inner_batch_size", defaults.inner_batch_size)
    learning_rate = learned.inner_lr or saved.get("inner_lr", defaults.inner_lr)
    arms = {f"pure{k}": validation.arm_activations(learned, str(k), base, hidden=hidden) for k in range(1, learned.n + 1)}
    arms[DIVERSE] = validation.arm_activations(learned, DIVERSE, base, hidden=hidden)
    arms[BASE] = validation.arm_activations(learned, BASE, base, hidden=hidden)
    output = args.output or default_output(args.run_dir)
    if os.path.exists(output) and not args.overwrite:
        raise UsageError(f"{output} already exists; pass --overwrite to replace it or --output to choose another folder")
    if args.data_path:
        os.environ[DATA_PATH_VARIABLE] = args.data_path
    train, test = validation.load_splits(args.dataset, seed=seed)
    note = _unfinished(args.run_dir)
    # a run directory that holds the output: no other initlab process may write it meanwhile
    holder = os.path.dirname(os.path.abspath(output))
    lock = lock_directory(holder) if os.path.isfile(os.path.join(holder, "config.json")) else None
    try:
        _prepare_output(output)
        print(f"diversity compare: {', '.join(arms)} of {learned.source} ({learned.n} learned function(s), {base} base); "
              f"{args.dataset} {train.x.shape[1]}-{hidden}-{train.y.shape[1]}, SGD lr {learning_rate:g} momentum "
              f"{defaults.inner_mu:g}, batch {batch_size}, {args.runs} run(s) of {epochs} epoch(s), seeds {seed}.."
              f"{seed + args.runs - 1} -> {output}" + (f"\n{note}" if note else ""), flush=True)
        rows = _train_arms(arms, train, test, output, Interruption(), runs=args.runs, epochs=epochs, seed=seed,
                           learning_rate=learning_rate, momentum=defaults.inner_mu, batch_size=batch_size)
        summary = summarize(rows, list(arms), epochs)
        validation.write_csv(os.path.join(output, "summary.csv"), SUMMARY_COLUMNS, summary)
        atomic.write_text(os.path.join(output, "summary.json"), json.dumps(
            {"source": learned.source, "dataset": args.dataset, "base": base, "epochs": epochs, "runs": args.runs,
             "seeds": list(range(seed, seed + args.runs)), "inner_lr": learning_rate, "confidence": CONFIDENCE,
             "arms": summary}, indent=2) + "\n")
    finally:
        if lock is not None:
            unlock_directory(holder, lock)
    print(table(summary), flush=True)
    return 0


def _unfinished(path: str) -> str:
    """A note when RUN_DIR is a metalearning run that has not finished: its functions are those learned so far."""
    try:
        with open(os.path.join(path, "status.json")) as f:
            status = json.load(f)
    except (OSError, ValueError):
        return ""
    if not isinstance(status, dict) or status.get("state") in (None, "done"):
        return ""
    return f"note: {path} is {status['state']} (after step {status.get('last_epoch')}): comparing the functions learned so far"


def _prepare_output(output: str) -> None:
    try:
        if os.path.exists(output):
            shutil.rmtree(output)
        os.makedirs(output)
    except OSError as error:
        raise UsageError(f"cannot create {output}: {error.strerror or error}") from None


def _train_arms(arms: dict, train, test, output: str, interruption, *, runs: int, epochs: int, **training) -> list[dict]:
    """Every arm's runs, runs.csv rewritten after each epoch; one progress line per arm and run."""
    rows, started = [], time.perf_counter()
    with interruption.handling(None):
        for name, arm in arms.items():
            for row in validation.train_arm(arm, train, test, runs=runs, epochs=epochs, label=f"{name} ", **training):
                rows.append({"arm": name, **row})
                validation.write_csv(os.path.join(output, "runs.csv"), ARM_COLUMNS, rows)
                if row["epoch"] == epochs:
                    print(f"{name} run {row['run'] + 1}/{runs} (seed {row['seed']}): test acc {100 * row['test_acc']:.2f}% "
                          f"(loss {row['test_loss']:.4f}), train acc {100 * row['train_acc']:.2f}% "
                          f"({time.perf_counter() - started:.1f} s)", flush=True)
                if interruption.requested:
                    raise RunInterrupted(interruption.signal_number, f"interrupted; {output} holds the runs done so "
                                         "far (start again with --overwrite)")
    return rows
