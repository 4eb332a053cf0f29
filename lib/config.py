"""Frozen run configurations and the command-line flags generated from them.

A study declares its configuration as a frozen dataclass whose fields are made with
`option(...)`. `add_flags` turns those fields into argparse flags and `from_namespace`
turns parsed flags back into the dataclass, so the flags, their defaults and the
config.json written to a run directory can never drift apart (DESIGN.md, principle 2).
"""

import argparse
import dataclasses
import json
from typing import Any, Callable, Sequence

from lib.environment import BACKENDS
from lib.errors import UsageError


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) and exits with code 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def option(default: Any, help: str, *, flags: Sequence[str] = (), choices: Callable[[], Sequence[str]] | Sequence[str] | None = None,
           parse: Callable[[str], Any] | None = None, metavar: str | None = None, cli: bool = True):
    """A config field that is also a command-line flag.

    flags: the flag spellings; the first is `--<field name>` unless given. Extra spellings
    are aliases kept for compatibility with the original code's command lines.
    choices: the valid values, or a function returning them (so registries can fill it).
    parse: converts and validates the string; raises argparse.ArgumentTypeError.
    cli: False for fields that are set by the program, not by a flag.
    """
    metadata = dict(help=help, flags=tuple(flags), choices=choices, parse=parse, metavar=metavar, cli=cli)
    return dataclasses.field(default=default, metadata=metadata)


def _choices(spec) -> tuple[str, ...] | None:
    if spec is None:
        return None
    return tuple(spec() if callable(spec) else spec)


def add_flags(parser: argparse.ArgumentParser, config_class) -> None:
    """Add one flag per `option` field of `config_class` to `parser`."""
    for f in dataclasses.fields(config_class):
        meta = f.metadata
        if not meta.get("cli", False):
            continue
        flags = meta["flags"] or (f"--{f.name}",)
        default_text = "" if f.default is None or f.default is False else f" (default: {f.default})"
        if f.type in (bool, "bool"):
            parser.add_argument(*flags, dest=f.name, action="store_true", help=meta["help"])
            continue
        choices = _choices(meta["choices"])
        parser.add_argument(*flags, dest=f.name, type=meta["parse"] or str, choices=choices, default=f.default,
                            metavar=meta["metavar"] or (None if choices else f.name.upper()),
                            help=meta["help"] + default_text)


def from_namespace(config_class, namespace: argparse.Namespace):
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(config_class) if f.metadata.get("cli", False)}
    return config_class(**values)


def to_json(config) -> str:
    """config.json: the config's fields and the name of its study, so no reader has to guess it."""
    return json.dumps({"study": config.study, **dataclasses.asdict(config)}, indent=2, sort_keys=True) + "\n"


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Options of the shared runner (run directory, resume, backend, precision) that every study
    config inherits, so each study declares only its own flags."""

    overwrite: bool = option(False, "replace an existing run directory of the same name")
    resume: bool = option(False, "continue this run from its last completed epoch (same flags as it was started with)")
    backend: str | None = option(None, "Keras backend (default: $KERAS_BACKEND, else tensorflow)",
                                 choices=BACKENDS)
    mixed_precision: bool = option(False, "bfloat16 compute, float32 variables, loss and recorded statistics (for GPUs)")
    output_dir: str = option("model_history", "where run directories go: <output_dir>/<dataset>/<name>/")


# Validating parsers: each raises ArgumentTypeError with a message that says what is valid.

def positive_int(text: str) -> int:
    return _bounded(int, text, 1, "an integer >= 1")


def non_negative_int(text: str) -> int:
    return _bounded(int, text, 0, "an integer >= 0")


def positive_float(text: str) -> float:
    value = parse_number(float, text, "a number > 0")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got '{text}'")
    return value


def non_negative_float(text: str) -> float:
    value = parse_number(float, text, "a number >= 0")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got '{text}'")
    return value


def unit_interval(text: str) -> float:
    """A probability or a momentum: [0, 1)."""
    value = parse_number(float, text, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got '{text}'")
    return value


def run_name(text: str) -> str:
    if not text or text in (".", "..") or "/" in text or "\\" in text or text.startswith("-"):
        raise argparse.ArgumentTypeError(f"must be a plain directory name (no '/', not '.' or '..'), got '{text}'")
    return text


def parse_number(kind, text, description):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {description}, got '{text}'") from None


def _bounded(kind, text, minimum, description):
    value = parse_number(kind, text, description)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {description}, got '{text}'")
    return value
