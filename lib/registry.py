"""Name -> builder tables for models, initializers, datasets and studies.

Each entry may carry `tiny` keyword overrides so that tests can build every registered
entry at a tiny size (DESIGN.md, principle 3).
"""

from dataclasses import dataclass, field
from typing import Any, Callable

from lib.errors import UsageError


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[..., Any]
    tiny: dict = field(default_factory=dict)
    summary: str = ""


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, *, tiny: dict | None = None, summary: str = ""):
        """Decorator: register `build` under `name`."""

        def decorate(build):
            self.add(name, build, tiny=tiny, summary=summary)
            return build

        return decorate

    def add(self, name: str, build: Callable[..., Any], *, tiny: dict | None = None, summary: str = ""):
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = Entry(name, build, dict(tiny or {}), summary or (build.__doc__ or "").strip().split("\n")[0])

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            raise UsageError(f"unknown {self.kind} '{name}' (valid: {', '.join(self._entries)})")
        return self._entries[name]

    def build(self, name: str, *args, tiny: bool = False, **kwargs):
        """Call the builder; with `tiny=True` the entry's tiny overrides are applied first."""
        entry = self.entry(name)
        if tiny:
            kwargs = {**kwargs, **entry.tiny}
        return entry.build(*args, **kwargs)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
