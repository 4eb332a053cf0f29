"""The sweep engine's cost: N tiny runs through `experiment.py sweep` (Ray embedded, --parallel P)
against the same N runs started by hand one after another, each `python experiment.py ...` a
subprocess as the engine's are, in one run of this script.

Printed:
- the hand-started baseline: the N runs' wall time one after another, and each run's mean;
- the engine at --parallel 1: its wall time minus the baseline's, per run = the engine's own
  overhead per run (Ray's start and stop amortized over the runs, task dispatch, state reads,
  the log and its watching);
- the engine at --parallel P: the throughput ratio baseline / engine wall time (how much faster
  the sweep finishes than running the points by hand one by one) and, per run, the slot time the
  engine left idle: (P x wall - sum of the tasks' own durations) / N;
- the same runs started by hand P at a time: the ratio any engine could reach on this machine.

Tiny runs are the worst case for the overhead: their few seconds are mostly interpreter and
TensorFlow start-up. On a 2-core machine P = 2 runs two of them on two cores, so the ratio's
ceiling is 2 minus what the two cost each other, and whatever else the machine runs meanwhile
takes its share (the load average is printed). Ray gives each task OMP_NUM_THREADS = its CPUs (1),
which the hand-started runs do not have; `--rounds R` repeats the four measurements R times.

    python bench/sweep_engine.py [--runs 8] [--parallel 2] [--epochs 3] [--rounds 1]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("INITLAB_OFFLINE", "1")

from lib.sweeps.grid import read_grid  # noqa: E402
from lib.sweeps.plan import make_plan  # noqa: E402

END = re.compile(r"\] end (\S+) (\w+), .*?([\d.]+) s")


def write_grid(folder: str, runs: int, epochs: int) -> str:
    path = os.path.join(folder, "bench.yaml")
    with open(path, "w") as f:
        f.write(f"study: glorot\nfixed: {{--dataset: digits, --units: 8, --epochs: {epochs}, --record_every: 0}}\n"
                f"axes: {{--lr: [0.1]}}\nseeds: [{', '.join(str(seed) for seed in range(runs))}]\n")
    return path


def by_hand(grid: str, folder: str) -> tuple[float, list[float]]:
    """The planned runs' own command lines, one after another, each timed."""
    plan = make_plan(read_grid(grid), folder)
    seconds = []
    for run in plan.runs:
        start = time.perf_counter()
        subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), *run.argv], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
    return sum(seconds), seconds


def by_hand_at_once(grid: str, folder: str, parallel: int) -> float:
    """The same command lines, `parallel` at a time (what any engine can at best do on this machine)."""
    plan = make_plan(read_grid(grid), folder)
    start, waiting, running = time.perf_counter(), list(plan.runs), []
    while waiting or running:
        while waiting and len(running) < parallel:
            running.append(subprocess.Popen([sys.executable, os.path.join(REPO, "experiment.py"), *waiting.pop(0).argv], cwd=REPO,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.05)
        running = [process for process in running if process.poll() is None]
    return time.perf_counter() - start


def engine(grid: str, folder: str, parallel: int) -> tuple[float, list[float]]:
    """The sweep command's wall time and the tasks' own durations (its `end` lines)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), "sweep", grid, "--output_dir", folder,
                             "--parallel", str(parallel)], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "RAY_TMPDIR": os.path.dirname(grid)})  # Ray's session files in the bench's folder
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{result.stdout}\n{result.stderr}")
    return wall, [float(seconds) for _, _, seconds in END.findall(result.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    n = args.runs
    print(f"{n} tiny glorot runs (digits, 3 x 8 units, {args.epochs} epochs), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            grid = write_grid(folder, n, args.epochs)
            hand_wall, _ = by_hand(grid, os.path.join(folder, "hand"))
            at_once_wall = by_hand_at_once(grid, os.path.join(folder, "at_once"), args.parallel)
            serial_wall, serial_tasks = engine(grid, os.path.join(folder, "engine1"), 1)
            parallel_wall, parallel_tasks = engine(grid, os.path.join(folder, "engineP"), args.parallel)
        idle = (args.parallel * parallel_wall - sum(parallel_tasks)) / n
        print(f"round {round_ + 1}: by hand one after another {hand_wall:6.1f} s ({hand_wall / n:.2f} s a run); "
              f"engine --parallel 1 {serial_wall:6.1f} s, overhead {(serial_wall - hand_wall) / n:+.2f} s a run "
              f"(its tasks {sum(serial_tasks) / n:.2f} s a run); engine --parallel {args.parallel} {parallel_wall:6.1f} s, "
              f"throughput ratio {hand_wall / parallel_wall:.2f} (by hand / engine), idle slot time {idle:.2f} s a run "
              f"(its tasks {sum(parallel_tasks) / n:.2f} s a run); by hand {args.parallel} at a time {at_once_wall:6.1f} s "
              f"(ratio {hand_wall / at_once_wall:.2f}: this machine's ceiling); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
