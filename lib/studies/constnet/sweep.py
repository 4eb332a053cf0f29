"""`experiment.py sweep`: the seven LeakyNet runs of the original's lrnet_experiment.sh, one table.

Every run gets the script's flags (--layers 16 --widen-factor 10 --batchnorm --lr 0.03
--no-saves -a leakynet --lrelu 0.01), then the user's flags (which override them, e.g.
--widen-factor 1 --epochs 3 --dataset digits for a CPU-sized sweep), then its --init.
"""

import csv
import json
import os

from lib.errors import UsageError
from lib.initializers.leakynet_codes import GRID, parse_init_string

SCRIPT_FLAGS = ["--layers", "16", "--widen-factor", "10", "--batchnorm", "--lr", "0.03", "--no-saves",
                "-a", "leakynet", "--lrelu", "0.01"]
SWEPT_FLAGS = ("--init", "-a", "--arch", "--name")
SUMMARY_FILE = "lrnet_sweep.csv"
SWEEP_DESCRIPTION = "the seven LeakyNet runs of lrnet_experiment.sh, one table (constnet flags override its defaults)"


def sweep_configs(argv: list[str]) -> list:
    """The seven resolved configs, checked (flags, free run directories) before any run starts."""
    from lib.config import OneLineParser, add_flags, from_namespace
    from lib.runs.run_dir import check_available
    from lib.studies.constnet.config import ConstnetConfig, resolve, run_path

    given = [arg.split("=")[0] for arg in argv]
    clash = next((flag for flag in SWEPT_FLAGS if flag in given), None)
    if clash:
        raise UsageError(f"sweep sets {clash} itself for each of its runs; leave it out")
    parser = OneLineParser(prog="experiment.py sweep", description=SWEEP_DESCRIPTION)
    add_flags(parser, ConstnetConfig)
    configs = [resolve(from_namespace(ConstnetConfig, parser.parse_args([*SCRIPT_FLAGS, *argv, "--init", init])))
               for init in GRID]
    for config in configs:
        check_available(run_path(config), config.overwrite)
    return configs


def run_sweep(argv: list[str]) -> int:
    configs = sweep_configs(argv)  # flag errors and --help before Keras starts
    import keras

    from lib.studies.constnet import run as constnet
    from lib.studies.constnet.config import run_path

    rows = []
    for index, config in enumerate(configs, 1):
        print(f"\nsweep run {index}/{len(configs)}: --init {config.init}", flush=True)
        keras.backend.clear_session()
        constnet.run(config, [*SCRIPT_FLAGS, *argv, "--init", config.init])
        results_path = os.path.join(run_path(config), "results.json")
        rows.append(summary_row(config, results_path))
    table = format_table(rows)
    print("\nLeakyNet sweep (lrnet_experiment.sh): best test accuracy per --init\n" + table, flush=True)
    out = os.path.join(configs[0].output_dir, configs[0].dataset, SUMMARY_FILE)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")
    return 0


def summary_row(config, results_path: str) -> dict:
    with open(results_path) as f:
        results = json.load(f)
    codes = parse_init_string(config.init, config.layers)
    return {"init": config.init, "averaging_layers": codes.count("1"),
            "best_test_acc_percent": round(100 * results["best_test_acc"], 2),
            "final_test_acc_percent": round(100 * results["final_test_acc"], 2),
            "run": os.path.dirname(results_path)}


def format_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(row[c])) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(row[c]).ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(lines)

