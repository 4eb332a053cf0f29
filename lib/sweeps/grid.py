"""Grid files: which study, the flags every run gets, the axes whose product makes the runs, the seeds,
and how `analyze` compares them (docs/sweeps.md, "Grid files").

    study: glorot
    fixed: {--hidden_layers: 5, --batch_size: 10}
    axes: {--dataset: [shapeset, mnist], --lr: [0.1, 0.01]}
    zip:                      # groups whose i-th values go together (optional)
      - model: [tanh, tanh-N]           # a label: names the runs instead of the group's flags
        --activation: [tanh, tanh]
        --xavier: [false, true]
    seeds: [0, 1, 2]
    select: {best_validation: --lr}     # analyze: per configuration, the best --lr on validation
    metric: best_val_acc                # results.json key that select compares (default)
    columns: [test_error_percent]       # results.json keys analyze tabulates and draws

Read with YAML's base loader, so every value stays the text written in the file and reaches the
study's own flag parser exactly as it would from a command line (`1e-3`, `0.10`, `0:1`); the
names (study, flags, keys) are checked here, the values by lib.sweeps.plan with the study's parser.
"""

import dataclasses
import difflib
import os
import re

import yaml

from lib.distribution.options import LAUNCH_FIELDS
from lib.errors import UsageError

KEYS = ("study", "name", "fixed", "axes", "zip", "seeds", "select", "metric", "goal", "columns")
SELECTIONS = ("best_validation",)
GOALS = ("max", "min")
DEFAULT_METRIC = "best_val_acc"
NULLS = ("", "~", "null", "Null", "NULL")  # YAML's null: the flag is not given for that point
SWITCH_VALUES = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}  # YAML's spellings
# Flags the sweep sets itself: where runs go, how they start, and --debug (a debug run saves nothing,
# so the sweep could never see it end).
RESERVED_FIELDS = ("output_dir", "resume", "overwrite", "debug")
# A sweep runs each point as one process; a run over several hosts needs one process per host, started
# together by its own launcher (docs/scaling.md).
ONE_PROCESS_FIELDS = LAUNCH_FIELDS
TABLE_COLUMNS = ("run", "seed", "status", "epochs", "reason", "path")  # sweep.csv's own columns
LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Axis:
    """One factor of the product: a flag with its values, or a zipped group of flags and labels whose
    i-th values make its i-th point. A value is the flag's text; None leaves the flag out."""

    keys: tuple[str, ...]  # flags ("--lr") and labels ("model")
    points: tuple[tuple[str | None, ...], ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(key for key in self.keys if not key.startswith("-"))


@dataclasses.dataclass(frozen=True)
class Grid:
    source: str  # the grid file (or a description of a built-in grid), for messages
    study: str
    name: str  # the sweep's folder under --output_dir
    fixed: tuple[str, ...]  # flags (as argv tokens) every run gets
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...] = ()  # () keeps the study's default seed
    select: str | None = None  # the axis key best_validation selects over
    metric: str = DEFAULT_METRIC
    goal: str = "max"
    columns: tuple[str, ...] = (DEFAULT_METRIC,)


@dataclasses.dataclass(frozen=True)
class FlagInfo:
    field: str  # the config field the flag sets
    switch: bool  # a store_true flag (true / false in a grid) rather than a flag with a value


def column(key: str) -> str:
    """sweep.csv's column and the run-name part of an axis key: the flag without its dashes."""
    return key.lstrip("-")


def study_flags(config_class) -> dict[str, FlagInfo]:
    """Every spelling of every flag of a study's config class (lib.config.add_flags makes the same)."""
    flags = {}
    for field in dataclasses.fields(config_class):
        if field.metadata.get("cli", False):
            for spelling in field.metadata["flags"] or (f"--{field.name}",):
                flags[spelling] = FlagInfo(field.name, field.type in (bool, "bool"))
    return flags


def tokens(flag: str, value: str | None, info: FlagInfo) -> list[str]:
    """The argv tokens of one flag and its grid value: a switch is present or not; None: left out."""
    if info.switch:
        return [flag] if SWITCH_VALUES[value] else []
    return [] if value is None else [flag, value]


class _Loader(yaml.BaseLoader):
    """YAML's base loader (every scalar a string) that refuses a key given twice: the last one would
    silently win."""


def _mapping(loader, node):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"'{key}' is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_grid(path: str) -> Grid:
    """The grid of the file at `path`, every name checked; any problem is one UsageError naming the
    file and the key."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise UsageError(f"cannot read grid file {path}: {error.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UsageError(f"{path}: not a valid grid file: {problem}{where}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a grid file is a YAML mapping of {', '.join(KEYS)}")
    return parse_grid(data, path)


def parse_grid(data: dict, source: str) -> Grid:
    from lib.studies import STUDIES, study

    def fail(key, problem):
        raise UsageError(f"{source}: {key}: {problem}")

    unknown = [key for key in data if key not in KEYS]
    if unknown:
        fail(unknown[0], f"unknown key{_suggest(unknown[0], KEYS)} (valid: {', '.join(KEYS)})")
    study_name = data.get("study")
    if not study_name:
        fail("study", "missing: name the study every run belongs to")
    if study_name not in STUDIES:
        fail("study", f"unknown study '{study_name}' (valid: {', '.join(STUDIES.names())})")
    flags = study_flags(study(study_name).config_class)
    seen: dict[str, str] = {}  # config field -> where it is set, so `--lr` and `--learning-rate` clash too

    def check_flag(key, where):
        if key not in flags:
            fail(f"{where}: {key}", f"not a flag of study {study_name}{_suggest(key, flags)} "
                                    f"(see experiment.py {study_name} --help)")
        info = flags[key]
        if info.field in RESERVED_FIELDS:
            fail(f"{where}: {key}", "the sweep sets it for every run; leave it out")
        if info.field in ONE_PROCESS_FIELDS:
            fail(f"{where}: {key}", "a sweep runs each point as one process; start a run over several hosts with its own "
                                    "launcher (docs/scaling.md)")
        if info.field in seen:
            fail(f"{where}: {key}", f"sets what {seen[info.field]} already sets")
        seen[info.field] = f"{where}: {key}"
        return info

    def check_value(key, value, info, where):
        if value is not None and not isinstance(value, str):
            fail(f"{where}: {key}", f"{_shape(value)} is not a value (give text, a number, true or false)")
        if info is None:  # a label
            if value in NULLS:
                fail(f"{where}: {key}", "a label needs a value for every point")
            return value
        if info.switch:
            if value not in SWITCH_VALUES:
                fail(f"{where}: {key}", f"'{value}' is not true or false ({key} is a switch)")
            return value
        return None if value in NULLS else value

    fixed = []
    fixed_map = data.get("fixed") or {}
    if not isinstance(fixed_map, dict):
        fail("fixed", "give a mapping of flag: value (true for a switch)")
    for key, value in fixed_map.items():
        info = check_flag(key, "fixed")
        fixed += tokens(key, check_value(key, value, info, "fixed"), info)

    axes = []
    axes_map = data.get("axes") or {}
    if not isinstance(axes_map, dict):
        fail("axes", "give a mapping of flag: [values]")
    for key, values in axes_map.items():
        info = check_flag(key, "axes")
        values = _values(values, fail, f"axes: {key}")
        axes.append(_distinct(Axis((key,), tuple((check_value(key, value, info, "axes"),) for value in values)), fail,
                              f"axes: {key}"))
    groups = data.get("zip") or []
    for index, group in enumerate([groups] if isinstance(groups, dict) else groups):
        where = f"zip[{index}]"
        if not isinstance(group, dict) or not group:
            fail(where, "give a mapping of flag (or label): [values], the lists of equal length")
        columns = {}
        for key in group:
            if key.startswith("-"):
                columns[key] = check_flag(key, where)
            elif not LABEL.match(key):
                fail(f"{where}: {key}", "a label is a plain word (letters, digits, _); flags start with -")
            else:
                columns[key] = None
        lists = {key: _values(values, fail, f"{where}: {key}") for key, values in group.items()}
        lengths = {len(values) for values in lists.values()}
        if len(lengths) > 1:
            fail(where, f"its lists must have equal lengths (got {', '.join(f'{k}: {len(v)}' for k, v in lists.items())})")
        if all(info is None for info in columns.values()):
            fail(where, "a group needs at least one flag beside its labels")
        points = tuple(tuple(check_value(key, lists[key][i], columns[key], where) for key in group)
                       for i in range(lengths.pop()))
        axes.append(_distinct(Axis(tuple(group), points), fail, where))
    _check_columns(axes, fail)

    seeds = _seeds(data.get("seeds"), fail)
    if seeds and "seed" not in {info.field for info in flags.values()}:
        fail("seeds", f"study {study_name} has no --seed flag")
    if seeds and "seed" in seen:
        fail("seeds", f"{seen['seed']} sets the seed already; give the seeds in one place")
    keys = [key for axis in axes for key in axis.keys]
    select = _select(data.get("select"), keys, fail)
    metric = _text(data.get("metric", DEFAULT_METRIC), "metric", fail)
    goal = data.get("goal", "min" if re.search("loss|error", metric) else "max")
    if goal not in GOALS:
        fail("goal", f"'{goal}' is not one of {', '.join(GOALS)}")
    columns = data.get("columns", [metric])
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
        fail("columns", "give a list of results.json keys, e.g. [test_acc]")
    sweep_name = _text(data.get("name", os.path.splitext(os.path.basename(source))[0]), "name", fail)
    if "/" in sweep_name or sweep_name in (".", "..") or sweep_name.startswith("-"):
        fail("name", f"'{sweep_name}' is not a plain folder name")
    return Grid(source, study_name, sweep_name, tuple(fixed), tuple(axes), seeds, select, metric, goal, tuple(columns))


def _values(values, fail, where) -> list:
    if not isinstance(values, list) or not values:
        fail(where, "give a non-empty list of values, e.g. [0.1, 0.01]")
    return values


def _distinct(axis: Axis, fail, where) -> Axis:
    """The axis, unless a point is listed twice (its run would be planned twice)."""
    for index, values in enumerate(axis.points):
        if values in axis.points[:index]:
            texts = ["null" if value is None else value for value in values]
            shown = texts[0] if len(axis.keys) == 1 else ", ".join(f"{key} {text}" for key, text in zip(axis.keys, texts))
            fail(where, f"{shown} is listed twice")
    return axis


def _check_columns(axes: list[Axis], fail) -> None:
    """Two axis keys may not share a sweep.csv column (a label `lr` beside `--lr`), nor take one of its own."""
    seen = {name: "sweep.csv's own" for name in TABLE_COLUMNS}
    seen["seed"] += "; list the seeds under seeds:"  # analyze aggregates over the seeds key, never over an axis
    for axis in axes:
        for key in axis.keys:
            if column(key) in seen:
                fail(key, f"its column '{column(key)}' is {seen[column(key)]}")
            seen[column(key)] = f"taken by {key}"


def _seeds(seeds, fail) -> tuple[int, ...]:
    if seeds is None:
        return ()
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, str) and s.isdigit() for s in seeds):
        fail("seeds", "give a list of integers >= 0, e.g. [0, 1, 2]")
    if len(set(map(int, seeds))) != len(seeds):
        fail("seeds", "a seed is listed twice")
    return tuple(int(seed) for seed in seeds)


def _select(select, keys: list[str], fail) -> str | None:
    if select is None:
        return None
    if not isinstance(select, dict) or list(select) != list(SELECTIONS):
        fail("select", f"give {{best_validation: AXIS}} (one of: {', '.join(SELECTIONS)})")
    key = select["best_validation"]
    if key not in keys:
        fail("select: best_validation", f"'{key}' is not an axis key (axes: {', '.join(keys) or 'none'})")
    return key


def _text(value, key, fail) -> str:
    if not isinstance(value, str) or not value:
        fail(key, "give a single word")
    return value


def _shape(value) -> str:
    return "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
