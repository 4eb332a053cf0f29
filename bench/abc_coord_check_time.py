"""Coord-check time: `python experiment.py abc coord_check` for widths 64...4096, end to end, on both Keras backends.

What: the wall time of the abc study's coordinate check (lib/studies/abc/coord_check_command.py, mup's check,
reference/weightnorm_abc.md §C7) as a user runs it, a fresh `python experiment.py abc coord_check
--parameterization mup,sp,ntk,ipllr --widths 64,128,...,4096 --steps 3 --seeds 5 --out <temporary folder> --backend B`
child process per backend (imports, the fixed batch, every model built, probed and trained, the figures and CSVs
written), and the ratio tensorflow / jax; besides the wall time, the child's CPU time (user + system, all its
threads: other work on a shared machine disturbs it less than the wall time). Where the time goes, from the time
each of the command's progress lines ("coord check: <parameterization> width <w> seed <s> done") arrives:
  first model  the launch to the first model's line: interpreter, Keras and the backend start-up, the data, the first
               model (its tracing and compiling)
  models       the first model's line to the last one's: every other model
  write        the last model's line to the exit: slopes, one figure per parameterization, the CSVs
  per width    the seconds of the models of each width (every parameterization and seed; the first model excluded),
               which shows whether a model's cost is the per-model tracing and compiling (flat in width) or the
               arithmetic (growing with width)
Goal: none set by issue 14 ("the coord check's total time for widths 64...4096 on both backends" is reported); the
ratio says which backend to recommend for the check.

How: --repeats rounds (1 by default: one check takes 1-3 minutes on a 2-core CPU), each running every backend once,
the order alternating between rounds so that the machine's other work falls on both alike; every column is the
median over rounds (the per-round totals are printed too). Other flags of the command pass through with the issue's
values as defaults. On a shared machine pass --threads 1 (each child pinned to one core).

    python bench/abc_coord_check_time.py [--backends tensorflow jax] [--repeats 1] [--parameterization mup,sp,ntk,ipllr]
        [--widths 64,128,256,512,1024,2048,4096] [--steps 3] [--seeds 5] [--threads N]
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax")
MODEL_DONE = re.compile(r"coord check: (\S+) width (\d+) seed (\d+) done")
PHASES = ("first model", "models", "write")
TAIL_LINES = 20  # of a failed child's output


def check_command(backend: str, out: str, args) -> list[str]:
    return [sys.executable, os.path.join(ROOT, "experiment.py"), "abc", "coord_check", "--parameterization",
            args.parameterization, "--widths", args.widths, "--steps", str(args.steps), "--seeds", str(args.seeds),
            "--out", out, "--backend", backend]


def run_check(backend: str, args, folder: str) -> dict:
    """One coord check on `backend`: {"total": s, "cpu": s, phase: s, "widths": {width: s}, "count": models}."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.threads:  # before the child's numeric libraries start their thread pools
        env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    out = tempfile.mkdtemp(prefix=f"{backend}-", dir=folder)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done, lines = [], []  # done: (seconds since start, width) per model line
    with subprocess.Popen(check_command(backend, out, args), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as child:
        for line in child.stdout:
            lines.append(line)
            match = MODEL_DONE.search(line)
            if match:
                done.append((time.perf_counter() - start, int(match.group(2))))
    total = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    if child.returncode != 0 or not done:
        sys.exit(f"the coord check on {backend} failed (exit code {child.returncode}):\n"
                 + "".join(lines[-TAIL_LINES:]))
    widths = {}
    for (previous, _), (now, width) in zip(done, done[1:]):
        widths[width] = widths.get(width, 0.0) + now - previous
    return {"total": total, "cpu": cpu, "first model": done[0][0], "models": done[-1][0] - done[0][0],
            "write": total - done[-1][0], "widths": widths, "count": len(done)}


def median(runs: list[dict], key: str, width: int | None = None) -> float:
    return statistics.median(run["widths"].get(width, 0.0) if width else run[key] for run in runs)


def print_table(results: dict, args) -> None:
    widths = sorted({width for runs in results.values() for run in runs for width in run["widths"]})
    count = next(iter(results.values()))[0]["count"]
    header = (f"{'backend':<11} {'total s':>8} {'cpu s':>7} " + " ".join(f"{phase + ' s':>13}" for phase in PHASES)
              + "  " + " ".join(f"{f'w{width} s':>8}" for width in widths))
    print(f"\ncoord check, {count} models ({args.parameterization} x widths {args.widths} x {args.seeds} seeds, "
          f"{args.steps} steps), seconds, median of {args.repeats} round(s)\n{header}\n{'-' * len(header)}")
    for backend, runs in results.items():
        print(f"{backend:<11} {median(runs, 'total'):>8.1f} {median(runs, 'cpu'):>7.1f} "
              + " ".join(f"{median(runs, phase):>13.1f}" for phase in PHASES) + "  "
              + " ".join(f"{median(runs, 'widths', width):>8.1f}" for width in widths))
    for backend, runs in results.items():
        print(f"per-round total (cpu) on {backend}: " + ", ".join(f"{run['total']:.1f} s ({run['cpu']:.1f} s)"
                                                                for run in runs))
    if set(BACKENDS) <= set(results):
        ratio, cpu = (median(results["tensorflow"], key) / median(results["jax"], key) for key in ("total", "cpu"))
        print(f"tensorflow / jax: total {ratio:.2f}, cpu {cpu:.2f} (> 1: JAX is the faster backend for the check)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", "--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="one coord check each per round (default: both)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds (one check on every backend each)")
    parser.add_argument("--parameterization", default="mup,sp,ntk,ipllr", help="passed to the command")
    parser.add_argument("--widths", default="64,128,256,512,1024,2048,4096", help="passed to the command")
    parser.add_argument("--steps", type=int, default=3, help="passed to the command")
    parser.add_argument("--seeds", type=int, default=5, help="passed to the command")
    parser.add_argument("--threads", type=int, help="CPU cores per check (default: all the process may use)")
    args = parser.parse_args()
    if min(args.repeats, args.steps, args.seeds) < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats, --steps, --seeds and --threads must be at least 1")
    if args.threads:  # the first --threads cores this process may use; the children inherit the affinity
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    backends, load = list(dict.fromkeys(args.backends)), os.getloadavg()[0]
    results = {backend: [] for backend in backends}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.repeats):
            for backend in backends if round_index % 2 == 0 else reversed(backends):
                print(f"round {round_index + 1}/{args.repeats}: coord check on {backend} ...", flush=True)
                results[backend].append(run_check(backend, args, folder))
                print(f"  {backend}: {results[backend][-1]['total']:.1f} s", flush=True)
    print_table(results, args)
    if not args.threads and load > 0.5:
        print(f"note: load average {load:.1f} before the bench: other work shares the cores; --threads 1 is fairer")


if __name__ == "__main__":
    main()
