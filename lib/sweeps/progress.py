"""What a sweep prints while it runs: one line when a run starts (start, resume or restart after a
lost node) and one when it ends, each with the running count: done / running / failed / left,
the time elapsed and an estimate of the time remaining (mean run time so far x runs still to
finish / runs at a time)."""

import dataclasses
import time
from typing import Callable


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclasses.dataclass
class Progress:
    total: int
    done: int = 0  # finished runs: done or diverged, those left as they were included
    failed: int = 0
    parallel: int | None = None  # runs at a time, when capped (--parallel)
    print_line: Callable = print  # print_line(text, flush=True)
    running: set = dataclasses.field(default_factory=set)
    durations: list = dataclasses.field(default_factory=list)
    started_at: float = dataclasses.field(default_factory=time.monotonic)
    most_running: int = 0

    @property
    def left(self) -> int:
        return self.total - self.done - self.failed - len(self.running)

    def counts(self) -> str:
        elapsed = time.monotonic() - self.started_at
        return (f"done {self.done} / running {len(self.running)} / failed {self.failed} / left {self.left}, "
                f"elapsed {clock(elapsed)}, remaining {self.remaining()}")

    def remaining(self) -> str:
        unfinished = self.left + len(self.running)
        if unfinished == 0:
            return clock(0)
        if not self.durations:
            return "unknown"
        at_a_time = max(1, min(self.parallel or self.most_running, unfinished))  # the last runs overlap less
        return "~" + clock(sum(self.durations) / len(self.durations) * unfinished / at_a_time)

    def started(self, name: str, action: str, node: str) -> None:
        again = name in self.running
        self.running.add(name)
        self.most_running = max(self.most_running, len(self.running))
        word = {"start": "start", "resume": "resume", "replace": "restart"}.get(action, action)
        self._line(f"{'retry ' if again else ''}{word} {name} (node {node})")

    def ended(self, outcome) -> None:
        self.running.discard(outcome.name)
        if outcome.finished:
            self.done += 1
        else:
            self.failed += 1
        if outcome.action != "skip" and outcome.seconds > 0:
            self.durations.append(outcome.seconds)
        epochs = "" if outcome.last_epoch is None else f", {outcome.last_epoch} epochs"
        why = f": {outcome.reason}" if outcome.reason and outcome.state != "done" else ""
        self._line(f"end {outcome.name} {outcome.state}{epochs}, {outcome.seconds:.1f} s{why}")

    def _line(self, text: str) -> None:
        self.print_line(f"[{clock(time.monotonic() - self.started_at)}] {text} | {self.counts()}", flush=True)
