"""Study registry: `python experiment.py <study> [flags]` runs STUDIES[<study>]."""

from dataclasses import dataclass
from typing import Callable

from lib.registry import Registry


@dataclass(frozen=True)
class Study:
    config_class: type
    run: Callable  # run(config, argv) -> exit code
    description: str
    resolve: Callable | None = None  # checks flag combinations: resolve(config) -> config


STUDIES = Registry("study")
DEFAULT_STUDY = "glorot"

from lib.studies import glorot, constnet  # noqa: E402,F401,I001  (register the studies, the default first)
