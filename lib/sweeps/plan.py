"""A grid's points -> planned runs: a readable unique run name, the exact `experiment.py` argv, and the
run directory the study's own run_path gives for it.

Every point is parsed with the study's own flag parser and resolved with its own resolve before
anything starts or is written, so a bad value or a contradictory combination is one line naming
the grid file and the key (or the run), exactly as the same flags on a command line would be.
"""

import dataclasses
import itertools
import json
import os

from lib.config import OneLineParser, add_flags, from_namespace, run_name
from lib.environment import active_backend
from lib.errors import UsageError
from lib.sweeps.grid import Axis, Grid, column, study_flags, tokens

PLAN_FILE = "plan.json"
NAME_LIMIT = 255  # bytes in a file name on Linux and macOS
PROBE_NAME = "initlab-sweep-probe"


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    name: str  # the run directory's name
    values: tuple[tuple[str, str], ...]  # (sweep.csv column, value) of each axis key and the seed
    argv: tuple[str, ...]  # experiment.py's arguments: the study, then its flags
    path: str  # the run directory (absolute), where the study puts a run of these flags


@dataclasses.dataclass(frozen=True)
class Plan:
    grid: Grid
    directory: str  # the sweep's folder (absolute): plan.json, sweep.csv, logs/
    runs: tuple[PlannedRun, ...]
    replace: bool = False  # start every run over (--overwrite), the LeakyNet sweep's --overwrite
    resume_advice: str = "run the same command again to resume them"  # printed when runs are left unfinished
    cwd: str = dataclasses.field(default_factory=os.getcwd)  # where flags' relative paths start (the driver's folder)
    configs: tuple = dataclasses.field(default=(), compare=False, repr=False)  # the resolved configs, in order

    def log_path(self, run: PlannedRun) -> str:
        return os.path.join(self.directory, "logs", f"{run.name}.log")


class _PointParser(OneLineParser):
    """The study's flags, whose errors come back as the bare message (the caller names the grid key)."""

    def error(self, message):
        raise UsageError(message)


def study_parser(study) -> _PointParser:
    parser = _PointParser(prog=f"experiment.py {study.name}", add_help=False)
    add_flags(parser, study.config_class)
    return parser


def resolved_config(study, parser, flags: list[str]):
    return study.resolve(from_namespace(study.config_class, parser.parse_args(flags)))


def make_plan(grid: Grid, output_dir: str, *, in_sweep_folder: bool = True) -> Plan:
    """The runs of `grid`. With `in_sweep_folder` each run gets --output_dir <output_dir>/<sweep name> and
    --name <run name>, so it lands in <output_dir>/<sweep name>/<dataset>/<run name>/; without it the
    flags place and name the runs as a single run of them would be (the LeakyNet sweep's lrnet_<init>)."""
    from lib.studies import study

    chosen = study(grid.study)
    flags = study_flags(chosen.config_class)
    parser = study_parser(chosen)
    directory = os.path.abspath(os.path.join(output_dir, grid.name))
    _check_each_value(grid, flags, parser)
    fixed = list(grid.fixed)
    given = [token for token in fixed if token in flags] + [key for axis in grid.axes for key in axis.keys if key in flags]
    if not any(flags[flag].field == "backend" for flag in given):
        fixed += [_spelling(chosen.config_class, "backend"), active_backend()]  # the same backend on every node
    seed_flag = _spelling(chosen.config_class, "seed") if grid.seeds else None
    points = list(itertools.product(*(axis.points for axis in grid.axes), *([grid.seeds] if grid.seeds else [])))
    name_flag = None
    runs, configs, paths = [], [], {}
    for point in points:
        axis_points, seed = (point[:-1], point[-1]) if grid.seeds else (point, None)
        point_flags = [token for axis, values in zip(grid.axes, axis_points) for token in _axis_tokens(axis, values, flags)]
        point_flags += [seed_flag, str(seed)] if seed_flag else []
        values = tuple((column(key), value) for axis, values in zip(grid.axes, axis_points) for key, value in zip(axis.keys, values)
                       if value is not None) + ((("seed", str(seed)),) if seed_flag else ())
        name = _run_name(grid, axis_points, seed)
        flags_of_run = [*fixed, *point_flags]
        if in_sweep_folder:
            name_flag = name_flag or _name_flag(chosen, parser, flags_of_run, grid, name)
            flags_of_run += [_spelling(chosen.config_class, "output_dir"), directory, name_flag, name]
        try:
            config = resolved_config(chosen, parser, flags_of_run)
        except UsageError as error:
            raise UsageError(f"{grid.source}: run {name}: {error}") from None
        path = os.path.abspath(chosen.run_path(config))
        name = name if in_sweep_folder else os.path.basename(path)
        if path in paths:
            raise UsageError(f"{grid.source}: runs {paths[path]} and {name} would share the run directory {path}")
        paths[path] = name
        runs.append(PlannedRun(name, values, (grid.study, *flags_of_run), path))
        configs.append(config)
    return Plan(grid, directory, tuple(runs), configs=tuple(configs))


def _check_each_value(grid: Grid, flags: dict, parser) -> None:
    """The fixed flags, then each axis value alone on top of them: a bad one is reported with its key
    (combinations are resolved per run, since fixed flags may need an axis: -a leakynet and --init)."""
    try:
        parser.parse_args(list(grid.fixed))
    except UsageError as error:
        raise UsageError(f"{grid.source}: fixed: {error}") from None
    for axis in grid.axes:
        for values in axis.points:
            try:
                parser.parse_args([*grid.fixed, *_axis_tokens(axis, values, flags)])
            except UsageError as error:
                shown = ", ".join(f"{key} {value}" for key, value in zip(axis.keys, values) if value is not None)
                where = "axes" if len(axis.keys) == 1 else "zip"
                raise UsageError(f"{grid.source}: {where}: {shown}: {error}") from None


def _axis_tokens(axis: Axis, values: tuple, flags: dict) -> list[str]:
    return [token for key, value in zip(axis.keys, values) if key.startswith("-") for token in tokens(key, value, flags[key])]


def _run_name(grid: Grid, axis_points: tuple, seed: int | None) -> str:
    """`dataset=mnist,model=tanh-N,lr=0.01,seed=0`: every axis key (a labelled group by its labels) and
    the seed, in the grid's order; a flag left out (null) is left out of the name."""
    parts = []
    for axis, values in zip(grid.axes, axis_points):
        named = axis.labels or axis.keys
        parts += [f"{column(key)}={value}" for key, value in zip(axis.keys, values) if key in named and value is not None]
    parts += [f"seed={seed}"] if seed is not None else []
    name = ",".join(parts).replace("/", "_") or grid.name
    if len(name.encode()) > NAME_LIMIT:
        raise UsageError(f"{grid.source}: run name {name[:40]}... is longer than {NAME_LIMIT} bytes; use a zip label "
                         "to name long values")
    return name


def _spelling(config_class, field_name: str) -> str:
    field = next(f for f in dataclasses.fields(config_class) if f.name == field_name)
    return (field.metadata["flags"] or (f"--{field.name}",))[0]


def _name_flag(chosen, parser, flags_of_run: list[str], grid: Grid, name: str) -> str:
    """The flag that names a run's directory: of the flags parsed as a run name, the one whose value the
    study's run_path puts last (glorot, constnet, diversity: --name; weightnorm: --model)."""
    try:
        config = resolved_config(chosen, parser, flags_of_run)
    except UsageError as error:
        raise UsageError(f"{grid.source}: run {name}: {error}") from None
    for field in dataclasses.fields(chosen.config_class):
        if field.metadata.get("cli") and field.metadata.get("parse") is run_name:
            probe = dataclasses.replace(config, **{field.name: PROBE_NAME})
            if os.path.basename(chosen.run_path(probe)) == PROBE_NAME:
                spellings = field.metadata["flags"] or (f"--{field.name}",)
                given = [flag for flag in spellings if flag in grid.fixed or any(flag in axis.keys for axis in grid.axes)]
                if given:
                    raise UsageError(f"{grid.source}: {given[0]}: the sweep names each run itself; leave it out")
                return spellings[0]
    raise UsageError(f"{grid.source}: study {chosen.name} has no run-name flag for the sweep to name its runs")


def to_json(plan: Plan) -> str:
    """plan.json: what `analyze SWEEP_DIR` needs without the grid file (which may have changed since)."""
    grid = plan.grid
    return json.dumps({"study": grid.study, "name": grid.name, "grid": grid.source,
                       "axes": [[column(key) for key in axis.keys] for axis in grid.axes], "seeds": list(grid.seeds),
                       "select": column(grid.select) if grid.select else None, "metric": grid.metric, "goal": grid.goal,
                       "columns": list(grid.columns),
                       "runs": [{"name": run.name, "values": dict(run.values), "argv": list(run.argv),
                                 "path": os.path.relpath(run.path, plan.directory)} for run in plan.runs]},
                      indent=2) + "\n"
