"""Command-line dispatch: `experiment.py [study] FLAGS` and the helper commands.

Every error a user can cause ends as one line on stderr and a non-zero exit code, before
anything is written.
"""

import argparse
import os
import sys

from lib.config import add_flags, from_namespace
from lib.errors import RunInterrupted, RunStopped, UsageError

COMMANDS = {"preview": "write a labelled grid of Shapeset-3x2 examples as PNG",
            "analyze": "draw the paper's figures and a summary table from recorded run directories",
            "sweep": "the seven LeakyNet runs of lrnet_experiment.sh (constnet flags override its defaults)",
            "resume": "continue an interrupted run directory from its last completed epoch"}


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) and exits with code 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def study_parser(name: str, study) -> OneLineParser:
    from lib.studies import STUDIES

    prog = "experiment.py" if name == "glorot" else f"experiment.py {name}"
    others = "; ".join([*(f"{other}: {STUDIES.entry(other).summary}" for other in STUDIES.names() if other != name),
                        *(f"{command}: {text}" for command, text in COMMANDS.items())])
    parser = OneLineParser(prog=prog, description=study.description,
                           epilog=f"other studies and commands (experiment.py NAME --help): {others}")
    add_flags(parser, study.config_class)
    return parser


def preview_parser() -> OneLineParser:
    from lib.config import non_negative_int, positive_int

    parser = OneLineParser(prog="experiment.py preview", description=COMMANDS["preview"])
    parser.add_argument("--out", default="shapeset_preview.png", help="PNG file to write (default: shapeset_preview.png)")
    parser.add_argument("--count", type=positive_int, default=36, help="number of examples (default: 36)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="stream seed (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    return parser


def run_preview(argv: list[str]) -> int:
    args = preview_parser().parse_args(argv)
    from lib.datasets.shapeset_preview import write_preview

    try:
        write_preview(args.out, count=args.count, seed=args.seed, overwrite=args.overwrite)
    except FileExistsError:
        raise UsageError(f"{args.out} already exists; pass --overwrite to replace it or --out to choose another file") from None
    print(f"wrote {args.out}")
    return 0


def analyze_parser() -> OneLineParser:
    from lib.analysis.frames import DEFAULT_JACOBIAN_EXAMPLES
    from lib.config import non_negative_int, positive_int

    parser = OneLineParser(prog="experiment.py analyze", description=COMMANDS["analyze"])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories, e.g. model_history/shapeset/<name>")
    parser.add_argument("--out", help="folder for the PNGs and summary.csv (default: RUN_DIR/report for one run, "
                                      "./report for several); files of the same name are replaced")
    parser.add_argument("--epoch", type=non_negative_int, help="epoch of Fig. 4's histograms (default: the last record)")
    parser.add_argument("--jacobian_examples", type=positive_int, default=DEFAULT_JACOBIAN_EXAMPLES, metavar="K",
                        help=f"probe examples per layer for the Jacobian singular values (default: {DEFAULT_JACOBIAN_EXAMPLES})")
    return parser


def run_analyze(argv: list[str]) -> int:
    """Glorot runs get the paper's figures; constnet runs the correlation curves (the --epoch and
    --jacobian_examples options concern glorot runs only)."""
    args = analyze_parser().parse_args(argv)
    from lib.analysis import study_of_runs

    def progress(line):
        print(line, flush=True)

    if study_of_runs(args.run_dirs) == "constnet":
        from lib.analysis.correlation_report import write_correlation_report

        write_correlation_report(args.run_dirs, args.out, progress=progress)
        return 0
    from lib.analysis.report import write_report

    write_report(args.run_dirs, args.out, epoch=args.epoch, jacobian_examples=args.jacobian_examples, progress=progress)
    return 0


def run_sweep(argv: list[str]) -> int:
    from lib.sweep import run_sweep as sweep

    return sweep(argv)


def run_resume(argv: list[str]) -> int:
    """`resume RUN_DIR`: the run's own config.json, with --resume."""
    parser = OneLineParser(prog="experiment.py resume", description=COMMANDS["resume"])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. model_history/shapeset/<name>")
    args = parser.parse_args(argv)
    import dataclasses

    from lib.analysis import study_of
    from lib.resume import read_run_config
    from lib.studies import STUDIES

    saved = read_run_config(args.run_dir)
    study = STUDIES.entry(study_of(args.run_dir)).build
    fields = {f.name for f in dataclasses.fields(study.config_class)}
    unknown = sorted(set(saved) - fields)
    if unknown:
        raise UsageError(f"{args.run_dir}/config.json has fields this initlab does not know ({', '.join(unknown)}); "
                         "it cannot be resumed")
    config = dataclasses.replace(study.config_class(**saved), resume=True, overwrite=False)
    if os.path.realpath(study_run_path(config)) != os.path.realpath(args.run_dir):
        raise UsageError(f"{args.run_dir} was moved from {study_run_path(config)}; resume it there, or pass its flags "
                         "with --resume --output_dir/--name pointing here")
    return study.run(config, ["resume", *argv])


def study_run_path(config) -> str:
    from lib.studies import constnet, glorot

    return (constnet.run_path if hasattr(config, "arch") else glorot.run_path)(config)


def dispatch(argv: list[str]) -> int:
    from lib.studies import DEFAULT_STUDY, STUDIES

    if argv and not argv[0].startswith("-"):
        name, rest = argv[0], argv[1:]
        if name in COMMANDS:
            return {"preview": run_preview, "analyze": run_analyze, "sweep": run_sweep, "resume": run_resume}[name](rest)
        if name not in STUDIES:
            raise UsageError(f"unknown study or command '{name}' (valid: {', '.join((*STUDIES.names(), *COMMANDS))})")
    else:
        name, rest = DEFAULT_STUDY, argv
    study = STUDIES.entry(name).build
    config = from_namespace(study.config_class, study_parser(name, study).parse_args(rest))
    if study.resolve is not None:
        study.resolve(config)  # contradictory flags fail here, before any data is loaded
    return study.run(config, argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(argv)
    except (UsageError, RunStopped, RunInterrupted) as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
