"""Command-line dispatch: `experiment.py [study] FLAGS` and the commands, all through the study registry.

Every error a user can cause ends as one line on stderr and a non-zero exit code, before
anything is written.
"""

import dataclasses
import os
import sys

from lib.config import OneLineParser, add_flags, from_namespace, non_negative_int, positive_int
from lib.errors import DiskFull, RunInterrupted, RunStopped, UsageError, disk_full_reason

COMMANDS = {"preview": "write a labelled grid of Shapeset-3x2 examples as PNG",
            "analyze": "draw the paper's figures and a summary table from recorded run directories",
            "resume": "continue an interrupted run directory from its last completed epoch",
            "hessian": "top eigenvalues, trace and spectral density of a run's loss Hessian (hessian/<label>.h5)",
            "sweep": "every point of a grid file as its own run, as Ray tasks, then sweep.csv (without a grid file: "
                     "the seven LeakyNet runs of lrnet_experiment.sh, constnet flags)"}
# `sweep FLAGS` with no grid file is this study's own sweep command: lrnet_experiment.sh's command line
FLAG_SWEEP_STUDY = "constnet"


def commands() -> dict:
    """{command: (help, runner)}: initlab's own, then those the studies add (e.g. constnet's `sweep`)."""
    from lib.studies import STUDIES, study

    table = {"preview": (COMMANDS["preview"], run_preview), "analyze": (COMMANDS["analyze"], run_analyze),
             "resume": (COMMANDS["resume"], run_resume), "hessian": (COMMANDS["hessian"], run_hessian),
             "sweep": (COMMANDS["sweep"], run_sweep)}
    for name in STUDIES.names():
        table.update(study(name).commands)
    return table


def study_parser(study) -> OneLineParser:
    from lib.studies import DEFAULT_STUDY, STUDIES

    prog = "experiment.py" if study.name == DEFAULT_STUDY else f"experiment.py {study.name}"
    others = "; ".join([*(f"{other}: {STUDIES.entry(other).summary}" for other in STUDIES.names() if other != study.name),
                        *(f"{command}: {text}" for command, (text, _) in commands().items())])
    if study.subcommands:
        others = "; ".join(f"{prog} {command}: {text}" for command, (text, _) in study.subcommands.items()) + "; " + others
    parser = OneLineParser(prog=prog, description=study.description,
                           epilog=f"other studies and commands (experiment.py NAME --help): {others}")
    add_flags(parser, study.config_class)
    return parser


def run_preview(argv: list[str]) -> int:
    parser = OneLineParser(prog="experiment.py preview", description=COMMANDS["preview"])
    parser.add_argument("--out", default="shapeset_preview.png", help="PNG file to write (default: shapeset_preview.png)")
    parser.add_argument("--count", type=positive_int, default=36, help="number of examples (default: 36)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="stream seed (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    from lib.datasets.shapeset_preview import write_preview

    try:
        write_preview(args.out, count=args.count, seed=args.seed, overwrite=args.overwrite)
    except FileExistsError:
        raise UsageError(f"{args.out} already exists; pass --overwrite to replace it or --out to choose another file") from None
    print(f"wrote {args.out}")
    return 0


def run_hessian(argv: list[str]) -> int:
    from lib.hessian.command import run_hessian as run

    return run(argv)


def run_sweep(argv: list[str]) -> int:
    """`sweep GRID.yaml [engine flags]` (lib.sweeps); `sweep [FLAGS]` without a grid file is FLAG_SWEEP_STUDY's
    `sweep` subcommand, so lrnet_experiment.sh's command line keeps working."""
    if argv and (not argv[0].startswith("-") or argv[0] in ("-h", "--help")):
        from lib.sweeps.command import run_grid_sweep

        return run_grid_sweep(argv)
    from lib.studies import study

    return study(FLAG_SWEEP_STUDY).subcommands["sweep"][1](argv)


def analyze_parser() -> OneLineParser:
    from lib.studies import STUDIES, study

    parser = OneLineParser(prog="experiment.py analyze", description=COMMANDS["analyze"])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories, e.g. model_history/shapeset/<name>; "
                                                                          "or one sweep folder (experiment.py sweep): its comparison")
    parser.add_argument("--out", help="folder for the PNGs and summary.csv (default: RUN_DIR/report for one run, "
                                      "./report for several); files of the same name are replaced")
    for name in STUDIES.names():
        if study(name).add_analyze_flags is not None:
            study(name).add_analyze_flags(parser)
    return parser


def run_analyze(argv: list[str]) -> int:
    """Each study draws its own report (glorot: the paper's figures; constnet: correlation curves), then
    the Hessian analyses the runs hold (`experiment.py hessian`) are drawn side by side. One sweep folder
    (its plan.json): the sweep's comparison over seeds instead (lib.sweeps.report)."""
    args = analyze_parser().parse_args(argv)
    from lib.sweeps.report import is_sweep_folder, write_sweep_report

    def progress(line):
        print(line, flush=True)

    if len(args.run_dirs) == 1 and is_sweep_folder(args.run_dirs[0]):
        write_sweep_report(args.run_dirs[0], args.out, progress)
        return 0
    from lib.analysis.files import default_out
    from lib.hessian.report import write_hessian_report
    from lib.studies import study_of_runs

    study_of_runs(args.run_dirs).analyze(args.run_dirs, args, progress)
    write_hessian_report(args.run_dirs, args.out or default_out(args.run_dirs), progress)
    return 0


def run_resume(argv: list[str]) -> int:
    """`resume RUN_DIR`: the run's own config.json, with --resume; on several hosts, this process's own
    --num_hosts / --coordinator / --host_index (never config.json's: lib.distribution.options)."""
    from lib.distribution.options import HostOptions, launch_options

    parser = OneLineParser(prog="experiment.py resume", description=COMMANDS["resume"])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. model_history/shapeset/<name>")
    add_flags(parser, HostOptions)
    args = parser.parse_args(argv)
    from lib.runs.resume import read_run_config
    from lib.studies import config_of_run

    chosen, config = config_of_run(args.run_dir, read_run_config(args.run_dir), "resumed")
    config = dataclasses.replace(config, resume=True, overwrite=False, **launch_options(type(config), args))
    if os.path.realpath(chosen.run_path(config)) != os.path.realpath(args.run_dir):
        raise UsageError(f"{args.run_dir} was moved from {chosen.run_path(config)}; resume it there, or pass its flags "
                         "with --resume --output_dir/--name pointing here")
    return chosen.run(config, ["resume", *argv])


def dispatch(argv: list[str]) -> int:
    from lib.studies import DEFAULT_STUDY, STUDIES, study

    if argv and not argv[0].startswith("-"):
        name, rest = argv[0], argv[1:]
        table = commands()
        if name in table:
            return table[name][1](rest)
        if name not in STUDIES:
            raise UsageError(f"unknown study or command '{name}' (valid: {', '.join((*STUDIES.names(), *table))})")
    else:
        name, rest = DEFAULT_STUDY, argv
    chosen = study(name)
    if rest and rest[0] in chosen.subcommands:
        return chosen.subcommands[rest[0]][1](rest[1:])
    config = from_namespace(chosen.config_class, study_parser(chosen).parse_args(rest))
    chosen.resolve(config)  # contradictory flags fail here, before any data is loaded
    return chosen.run(config, argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(argv)
    except (UsageError, RunStopped, RunInterrupted) as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # a full disk under a writer no run owns (analyze's figures and tables): one line too
        reason = disk_full_reason(error)
        if reason is None:
            raise
        full = DiskFull(os.fsdecode(error.filename) if error.filename else "a file", reason)
        print(f"error: {full}", file=sys.stderr)
        return full.exit_code
