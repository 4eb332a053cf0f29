"""Study registry: `python experiment.py <study> [flags]` runs STUDIES[<study>].

A study is a package `lib/studies/<name>/` whose `__init__.py` registers one `Study`: its config
class (the flags) and the hooks the command line dispatches to. Every hook is a plain function,
and the ones that need Keras import it inside, so listing studies and parsing flags stays fast.
config.json names its study (`"study"`), so resume and analyze never guess it; run directories
written before initlab recorded it are recognised by their fields (`legacy_study`).
"""

import argparse
from dataclasses import dataclass, field
from typing import Callable

from lib.analysis.files import read_config
from lib.errors import UsageError
from lib.registry import Registry


@dataclass(frozen=True)
class Study:
    name: str
    config_class: type  # a frozen dataclass of option() fields, inheriting lib.config.RunOptions
    description: str
    resolve: Callable  # resolve(config) -> config: defaults implied by other flags; bad combinations raise UsageError
    run_path: Callable  # run_path(config) -> the run directory of a resolved config
    run: Callable  # run(config, argv) -> exit code
    analyze: Callable  # analyze(run_dirs, args, progress): the study's report of recorded runs
    add_analyze_flags: Callable[[argparse.ArgumentParser], None] | None = None  # the study's own analyze flags
    commands: dict = field(default_factory=dict)  # extra commands: name -> (one-line help, runner(argv) -> exit code)
    subcommands: dict = field(default_factory=dict)  # `experiment.py <study> <name> ...`: name -> (help, runner(argv))
    # hessian(run_path, config, *, epoch, split, count) -> lib.hessian.subject.HessianSubject: the run's model
    # with the weights of `epoch` (None: its checkpoint; 0: its initialization), its loss and `count` examples
    hessian: Callable | None = None
    # run_state(run_path) -> dict | None: the run's status as status.json holds it ({"state", "last_epoch",
    # "reason"}), None when nothing of it is kept; for a run directory that is not one status.json (abc:
    # trial_<i>/ folders). Sweeps read it to skip, resume or start a run (default: lib.sweeps.state.read_status)
    run_state: Callable[[str], dict | None] | None = None


STUDIES = Registry("study")
DEFAULT_STUDY = "glorot"


def register(study: Study) -> None:
    STUDIES.add(study.name, study, summary=study.description)


def study(name: str) -> Study:
    return STUDIES.entry(name).build


def legacy_study(config: dict) -> str:
    """The study of a config.json written before initlab recorded it: constnet configs name an `arch`."""
    return "constnet" if "arch" in config else "glorot"


def study_of_config(config: dict) -> str:
    name = config.get("study") or legacy_study(config)
    if name not in STUDIES:
        raise UsageError(f"config.json names study '{name}', which this initlab does not have "
                         f"(valid: {', '.join(STUDIES.names())})")
    return name


def config_of_run(path: str, saved: dict, purpose: str):
    """(study, config) of the run directory `path` whose config.json holds `saved`; a field this
    initlab does not know means the run cannot be `purpose` (resumed, analysed)."""
    import dataclasses

    chosen = study(study_of_config(saved))
    saved = {key: value for key, value in saved.items() if key != "study"}
    unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(chosen.config_class)})
    if unknown:
        raise UsageError(f"{path}/config.json has fields this initlab does not know ({', '.join(unknown)}); "
                         f"it cannot be {purpose}")
    return chosen, chosen.config_class(**saved)


def study_of_runs(run_paths: list[str]) -> Study:
    """The one study of the run directories `run_paths` (analyze compares runs of one study)."""
    names = {}
    for path in run_paths:
        config = read_config(path, "model_history/<dataset>/<run name>")
        if not isinstance(config, dict):
            raise UsageError(f"{path}/config.json is not a run configuration")
        names[path] = study_of_config(config)
    first = next(iter(run_paths))
    other = next((path for path in run_paths if names[path] != names[first]), None)
    if other is not None:
        raise UsageError(f"analyze compares runs of one study: {first} is a {names[first]} run, "
                         f"{other} a {names[other]} run")
    return study(next(iter(names.values())))


from lib.studies import glorot, constnet, diversity, weightnorm, abc  # noqa: E402,F401,I001  (register the studies, the default first)
