"""`experiment.py sweep GRID.yaml [--parallel N] [--cpus_per_run C] [--gpus_per_run G] [--address RAY_ADDRESS]
[--output_dir DIR] [--dry_run]`: every point of the grid one run directory, then sweep.csv and a table.

The grid is read and every run's flags checked before anything is written or started. The runs
land in <output_dir>/<sweep name>/<dataset>/<run name>/; the sweep's own files (plan.json,
sweep.csv, logs/<run name>.log) in <output_dir>/<sweep name>/.
"""

import os
import shlex

from lib.config import OneLineParser, non_negative_float, positive_float, positive_int
from lib.errors import RunInterrupted, UsageError
from lib.storage import atomic
from lib.sweeps.engine import EngineOptions, run_plan
from lib.sweeps.grid import read_grid
from lib.sweeps.plan import PLAN_FILE, Plan, make_plan, to_json
from lib.sweeps.state import FINISHED, run_state
from lib.sweeps.table import format_table, plan_rows, write_sweep_csv
from lib.sweeps.task import decide

GRIDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grids")
DESCRIPTION = ("run every point of a grid file as its own run directory, as Ray tasks (embedded, or a cluster with "
               "--address), then write sweep.csv; the same command again skips finished runs and resumes the others. "
               "Without a grid file, `sweep [constnet flags]` runs the seven LeakyNet runs of lrnet_experiment.sh")


def sweep_parser() -> OneLineParser:
    parser = OneLineParser(prog="experiment.py sweep", description=DESCRIPTION)
    parser.add_argument("grid", metavar="GRID.yaml", help=f"a grid file, or the name of a shipped one ({', '.join(shipped_grids())})")
    parser.add_argument("--parallel", type=positive_int, metavar="N", help="runs at a time (default: as many as Ray's resources allow)")
    parser.add_argument("--cpus_per_run", type=positive_float, default=1.0, metavar="C",
                        help="CPUs Ray reserves per run, > 0 (default: 1); with --parallel unset, how many run at once")
    parser.add_argument("--gpus_per_run", type=non_negative_float, default=0.0, metavar="G",
                        help="GPUs per run; Ray sets CUDA_VISIBLE_DEVICES for each (default: 0)")
    parser.add_argument("--address", metavar="RAY_ADDRESS",
                        help="join a running Ray cluster, e.g. 10.0.0.1:6379 (default: $RAY_ADDRESS, else Ray embedded "
                             "on this machine); --output_dir must then be on a filesystem every node shares")
    parser.add_argument("--output_dir", default="model_history", metavar="DIR",
                        help="the sweep goes in DIR/<sweep name>/ (default: model_history)")
    parser.add_argument("--dry_run", action="store_true", help="print the plan and write sweep.csv; run nothing")
    return parser


def shipped_grids() -> list[str]:
    return sorted(name[:-5] for name in os.listdir(GRIDS) if name.endswith(".yaml"))


def grid_path(text: str) -> str:
    """A path, or the name of a shipped grid (`leakynet` = lib/sweeps/grids/leakynet.yaml)."""
    shipped = os.path.join(GRIDS, f"{text}.yaml")
    return shipped if not os.path.exists(text) and os.path.isfile(shipped) else text


def run_grid_sweep(argv: list[str]) -> int:
    args = sweep_parser().parse_args(argv)
    plan = make_plan(read_grid(grid_path(args.grid)), args.output_dir)  # every error before anything is written
    return run_sweep(plan, EngineOptions(args.parallel, args.cpus_per_run, args.gpus_per_run, args.address or ray_address()),
                     dry_run=args.dry_run)


def ray_address() -> str | None:
    """$RAY_ADDRESS, Ray's own variable for the cluster to join; None (Ray embedded) when unset or empty."""
    return os.environ.get("RAY_ADDRESS") or None


def run_sweep(plan: Plan, options: EngineOptions, *, dry_run: bool = False) -> int:
    """Write plan.json, run (or on a dry run, print) the plan, then write sweep.csv and print the table.
    Exit code 0 when every run is done or diverged."""
    where = "an embedded Ray" if options.address is None else f"the Ray cluster at {options.address}"
    print(f"sweep {plan.grid.name} ({plan.grid.source}): {len(plan.runs)} {plan.grid.study} runs in {plan.directory}"
          + ("" if dry_run else f", on {where}"), flush=True)
    try:
        os.makedirs(plan.directory, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the sweep folder {plan.directory}: {error.strerror}") from None
    atomic.write_text(os.path.join(plan.directory, PLAN_FILE), to_json(plan))
    outcomes = []
    if dry_run:
        print_plan(plan)
    else:
        try:
            outcomes = run_plan(plan, options)
        except RunInterrupted:  # the runs stopped and wrote their status: sweep.csv says where each stands
            write_sweep_csv(plan.directory, plan_rows(plan))
            raise
    rows = plan_rows(plan, outcomes)
    path = write_sweep_csv(plan.directory, rows)
    shown = ["run", "status", "epochs", *(column for column in plan.grid.columns if any(column in row for row in rows))]
    print(f"\n{format_table(rows, shown)}\nwrote {path}", flush=True)
    unfinished = [row["run"] for row in rows if row["status"] not in FINISHED]
    if unfinished and not dry_run:
        print(f"{len(unfinished)} run(s) not finished (logs in {os.path.join(plan.directory, 'logs')}); "
              f"{plan.resume_advice}", flush=True)
    return 0 if dry_run or not unfinished else 1


def print_plan(plan: Plan) -> None:
    """Each run, what the sweep would do with it now, and its command line."""
    for run in plan.runs:
        action, extra = decide(run_state(plan.grid.study, run.path), run.path, plan.replace)
        print(f"{action:7s} {run.name}\n        experiment.py {shlex.join([*run.argv, *extra])}")
