"""`experiment.py sweep [constnet flags]` (also `constnet sweep`): the seven LeakyNet runs of the
original's lrnet_experiment.sh, through the sweep engine (lib.sweeps), then one table.

Every run gets the script's flags (--layers 16 --widen-factor 10 --batchnorm --lr 0.03
--no-saves -a leakynet --lrelu 0.01), then the user's flags (which override them, e.g.
--widen-factor 1 --epochs 3 --dataset digits for a CPU-sized sweep), then its --init. The runs are
placed and named as a single run of those flags would be (<output_dir>/<dataset>/lrnet_<init>/),
as before the engine; the sweep's own files go in <output_dir>/lrnet_sweep/. As a single run, an
existing run directory is refused unless --resume (finish the sweep: finished runs are kept, the
others resumed or started) or --overwrite (start all seven over). One run at a time, as before; the
same seven runs as a grid file, side by side: lib/sweeps/grids/leakynet.yaml.
"""

import csv
import dataclasses
import io
import os

from lib.errors import UsageError
from lib.initializers.leakynet_codes import GRID, parse_init_string

SCRIPT_FLAGS = ["--layers", "16", "--widen-factor", "10", "--batchnorm", "--lr", "0.03", "--no-saves",
                "-a", "leakynet", "--lrelu", "0.01"]
SWEPT_FLAGS = ("--init", "-a", "--arch", "--name")
SUMMARY_FILE = "lrnet_sweep.csv"
SWEEP_FOLDER = "lrnet_sweep"  # under --output_dir: plan.json, sweep.csv, logs/
# as a single run: the same command without --resume refuses the existing runs, and with --overwrite starts them over
RESUME_ADVICE = "run the same command with --resume (not --overwrite) to finish them"
SWEEP_DESCRIPTION = "the seven LeakyNet runs of lrnet_experiment.sh, one table (constnet flags override its defaults)"


def leakynet_plan(argv: list[str]):
    """The seven runs as a lib.sweeps plan, every flag and run directory checked before any run starts."""
    from lib.config import OneLineParser, add_flags, from_namespace
    from lib.runs.run_dir import check_available
    from lib.studies.constnet.config import ConstnetConfig, resolve
    from lib.sweeps.grid import Axis, Grid
    from lib.sweeps.plan import make_plan

    given = [arg.split("=")[0] for arg in argv]
    clash = next((flag for flag in SWEPT_FLAGS if flag in given), None)
    if clash:
        raise UsageError(f"sweep sets {clash} itself for each of its runs; leave it out")
    parser = OneLineParser(prog="experiment.py sweep", description=SWEEP_DESCRIPTION)
    add_flags(parser, ConstnetConfig)
    first = resolve(from_namespace(ConstnetConfig, parser.parse_args([*SCRIPT_FLAGS, *argv, "--init", GRID[0]])))  # --help here
    if first.debug:
        raise UsageError("--debug runs save nothing, so the sweep could not see them end; run one with experiment.py constnet")
    if first.num_hosts > 1:
        raise UsageError("the sweep runs each run as one process; start a run over several hosts on its own (docs/scaling.md)")
    if first.resume and first.overwrite:
        raise UsageError("--resume continues the runs and --overwrite replaces them; pass only one of them")
    own = ("--resume", "--overwrite")  # how the sweep treats existing runs, not flags of the runs
    # --output_dir made absolute (given last, it wins): on a cluster a run starts in the driver's folder only
    # where every node has it
    flags = (*SCRIPT_FLAGS, *(arg for arg in argv if arg not in own), "--output_dir", os.path.abspath(first.output_dir))
    grid = Grid("experiment.py sweep", "constnet", SWEEP_FOLDER, flags,
                (Axis(("--init",), tuple((init,) for init in GRID)),), metric="best_test_acc",
                columns=("best_test_acc", "final_test_acc"))
    plan = make_plan(grid, first.output_dir, in_sweep_folder=False)
    if not (first.resume or first.overwrite):
        for run in plan.runs:
            check_available(run.path, False)
    return dataclasses.replace(plan, replace=first.overwrite, resume_advice=RESUME_ADVICE)


def run_sweep(argv: list[str]) -> int:
    from lib.storage import atomic
    from lib.sweeps import command
    from lib.sweeps.engine import EngineOptions
    from lib.sweeps.table import format_table, plan_rows

    plan = leakynet_plan(argv)  # flag errors and --help before any run starts
    # one run at a time, as before the engine: the runs' own -d devices are the same GPUs for all seven (the
    # grid file, lib/sweeps/grids/leakynet.yaml, runs them side by side with --parallel / --gpus_per_run)
    code = command.run_sweep(plan, EngineOptions(parallel=1, address=command.ray_address()))
    if code != 0:
        return code
    rows = [summary_row(config, row) for config, row in zip(plan.configs, plan_rows(plan))]
    print("\nLeakyNet sweep (lrnet_experiment.sh): best test accuracy per --init\n" + format_table(rows), flush=True)
    out = os.path.join(plan.configs[0].output_dir, plan.configs[0].dataset, SUMMARY_FILE)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(out, text.getvalue())
    print(f"wrote {out}", flush=True)
    return 0


def summary_row(config, row: dict) -> dict:
    """The LeakyNet table's row: the --init, its number of averaging layers, best and final test accuracy."""
    codes = parse_init_string(config.init, config.layers)
    percent = {key: None if row.get(key) is None else round(100 * row[key], 2) for key in ("best_test_acc", "final_test_acc")}
    return {"init": config.init, "averaging_layers": codes.count("1"), "best_test_acc_percent": percent["best_test_acc"],
            "final_test_acc_percent": percent["final_test_acc"], "status": row["status"],
            "run": os.path.join(config.output_dir, config.dataset, os.path.basename(row["path"]))}
