"""Starting the processes of one run over several hosts on this machine (tests/multihost).

Every process is `tests/scripts/multihost_process.py` (experiment.py with test hooks): processes other
than 0 may not write under the output directory, and one process may be made to die at a global batch.
They join by --coordinator / --host_index, or as the tasks of a Slurm job step (the SLURM_* variables
JAX reads). The coordinator listens on 127.0.0.1 only, at a port free a moment ago; every process
started is stopped by its pid when the test ends, whatever happened.
"""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time

from tests.helpers import REPO, SCRIPTS

JOB_TIMEOUT_S = 600


# JAX's Slurm detection puts the coordinator at port SLURM_JOB_ID % 4096 + 61440 of the step's first node
# (jax/_src/clusters/slurm_cluster.py)
SLURM_FIRST_PORT, SLURM_PORTS = 61440, 4096


def free_port(ports: range | None = None) -> int:
    """A port of 127.0.0.1 that is free now: any (the system's choice), or one of `ports`."""
    for port in random.sample(ports, len(ports)) if ports else [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError(f"no free port in {ports}")


def slurm_environment(count: int, index: int, port: int) -> dict:
    """Task `index` of a Slurm job step of `count` tasks on this machine, whose coordinator port is `port`."""
    return {"SLURM_JOB_ID": str(port - SLURM_FIRST_PORT), "SLURM_STEP_NODELIST": "127.0.0.1",
            "SLURM_NTASKS": str(count), "SLURM_PROCID": str(index), "SLURM_LOCALID": str(index),
            "SLURM_STEP_NUM_NODES": "1", "JAX_COORDINATOR_BIND_ADDRESS": f"127.0.0.1:{port}"}


def host_flags(count: int, index: int, port: int) -> list[str]:
    return ["--num_hosts", str(count), "--coordinator", f"127.0.0.1:{port}", "--host_index", str(index)]


@contextlib.contextmanager
def job(argv: list[str], log_dir, *, count: int = 2, read_only: str | None = None, die: tuple[int, int] | None = None,
        slurm: bool = False):
    """Start `experiment.py ARGV --num_hosts COUNT --coordinator 127.0.0.1:PORT --host_index I` for every I,
    or with `slurm` `experiment.py ARGV --num_hosts COUNT` as Slurm task I (`read_only`: the folder processes
    other than 0 must not write in; `die`: (process, global batch) at which that process SIGKILLs itself).
    Yields the Popen objects, logs in log_dir/host<I>.log; ends every one still running (SIGKILL by pid)
    on leaving."""
    port = free_port(range(SLURM_FIRST_PORT, SLURM_FIRST_PORT + SLURM_PORTS) if slurm else None)
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "JAX_COORD"))}
    processes = []
    try:
        for index in range(count):
            hooks = [read_only if index and read_only else "-", str(die[1]) if die and die[0] == index else "-"]
            joining = ["--num_hosts", str(count)] if slurm else host_flags(count, index, port)
            log = open(os.path.join(log_dir, f"host{index}.log"), "w")
            processes.append(subprocess.Popen(
                [sys.executable, os.path.join(SCRIPTS, "multihost_process.py"), *hooks, *argv, *joining], cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT,
                env={**environment, "PYTHONPATH": REPO, **(slurm_environment(count, index, port) if slurm else {})}))
            log.close()
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def wait(processes, log_dir, timeout: float = JOB_TIMEOUT_S) -> list[int]:
    """The exit codes, once every process has ended; the end of each log in the failure message."""
    deadline = time.time() + timeout
    while any(process.poll() is None for process in processes) and time.time() < deadline:
        time.sleep(0.05)
    codes = [process.poll() for process in processes]
    assert None not in codes, f"still running after {timeout} s: {logs(log_dir, len(processes))}"
    return codes


def logs(log_dir, count: int) -> str:
    """The last lines of every process's log (JAX's C++ stack traces left out)."""
    tails = []
    for index in range(count):
        with open(os.path.join(log_dir, f"host{index}.log"), errors="replace") as f:
            lines = [line for line in f.read().splitlines() if not line.lstrip().startswith("@ ")]
        tails.append(f"--- host {index}:\n" + "\n".join(lines[-25:]))
    return "\n".join(tails)
