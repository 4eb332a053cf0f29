"""Joining a run over several hosts, and what its processes must agree on (JAX only).

Every process starts with the same flags and its own --host_index (or Slurm's environment, which
`jax.distributed.initialize()` reads), joins the job before JAX computes anything, and trains one model
under `keras.distribution.DataParallel` over every device of every process. Each process feeds its own
slice of every global batch (lib.datasets.pipeline, `data_part`); Keras assembles the global batch
(auto_shard_dataset=False: its auto-sharding needs a tf.data.Dataset).

A lost peer must end the whole job within seconds: JAX's defaults (a 100 s heartbeat, a 300 s shutdown
barrier) kept a survivor waiting for minutes (reference/scaleout.md §3), and a job whose process died
can only be restarted as a whole, from the checkpoint. Keras' own `keras.distribution.initialize` does
not pass these timeouts, hence jax.distributed here.

Process 0 takes the decisions that touch the run directory (is the path free, open it, which epoch to
resume from) and the others learn the outcome (`first_process_decides`), so that all processes start,
or stop with the same error, together.
"""

import ipaddress
import os
from typing import Callable, TypeVar

from lib.errors import RunStopped, UsageError

JOIN_TIMEOUT_S = 120  # every process must have joined this long after the first (JAX's default: 300 s)
JOIN_TIMEOUT_VARIABLE = "INITLAB_JOIN_TIMEOUT_S"  # overrides it, e.g. for a cluster whose nodes start slowly
HEARTBEAT_TIMEOUT_S = 5  # a process silent this long is dead and every other process ends
SHUTDOWN_TIMEOUT_S = 5  # at exit, how long a process waits for the others (normally they arrive together)
MESSAGE_BYTES = 1000  # process 0's error message, as the others print it

T = TypeVar("T")
_joined = False


def join(config):
    """Join the run's `config.num_hosts` processes (must precede any JAX computation) and return the data
    parallelism over all their devices (lib.backend.distribute.DataParallel); None for one host."""
    global _joined
    if config.num_hosts == 1:
        return None
    import jax

    explicit = config.coordinator is not None
    timeout = join_timeout()
    # JAX ends the process itself (SIGABRT, its own message) when the job cannot be joined in time: say first
    # what this process is waiting for
    where = f"the coordinator {config.coordinator} as process {config.host_index}" if explicit else "the job's coordinator"
    print(f"joining a run of {config.num_hosts} processes through {where} (every process must join within "
          f"{timeout} s; {JOIN_TIMEOUT_VARIABLE} changes it)", flush=True)
    try:
        jax.distributed.initialize(
            coordinator_address=config.coordinator, num_processes=config.num_hosts if explicit else None,
            process_id=config.host_index, initialization_timeout=timeout, heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S,
            shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S, coordinator_bind_address=bind_address(config.coordinator))
    except ValueError as error:  # no address given and no cluster environment (Slurm, Open MPI) detected
        raise UsageError(f"--num_hosts {config.num_hosts} without --coordinator needs a job JAX can read (Slurm, "
                         f"Open MPI): pass --coordinator HOST:PORT and --host_index I ({error})") from None
    _joined = True
    if jax.process_count() != config.num_hosts:
        raise UsageError(f"--num_hosts {config.num_hosts}, but the job has {jax.process_count()} processes")
    from lib.backend.distribute import DataParallel

    # Devices in process order, so that process p's slice of a global batch is its p-th block.
    devices = sorted(jax.devices(), key=lambda device: (device.process_index, device.id))
    return DataParallel(devices, auto_shard_dataset=False)


def join_timeout() -> int:
    text = os.environ.get(JOIN_TIMEOUT_VARIABLE, "")
    if not text:
        return JOIN_TIMEOUT_S
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{JOIN_TIMEOUT_VARIABLE} must be a whole number of seconds >= 1, got '{text}'")
    return int(text)


def bind_address(coordinator: str | None) -> str | None:
    """Where process 0 listens: JAX_COORDINATOR_BIND_ADDRESS if set; else an IP address or `localhost` as
    given (the tests' 127.0.0.1 never listens on other interfaces); else None, JAX's every interface
    ([::]:PORT): a host's own name may resolve, on that host, to a loopback address the others cannot
    reach (Debian's 127.0.1.1), and under Slurm JAX chooses the address."""
    if os.environ.get("JAX_COORDINATOR_BIND_ADDRESS"):
        return os.environ["JAX_COORDINATOR_BIND_ADDRESS"]
    if coordinator is None:
        return None
    host = coordinator.rpartition(":")[0]
    if host == "localhost":
        return coordinator
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    return coordinator


def process_index() -> int:
    """This process's index in the job (0 when it has not joined one)."""
    if not _joined:
        return 0
    import jax

    return jax.process_index()


def process_count() -> int:
    if not _joined:
        return 1
    import jax

    return jax.process_count()


def writes_run_files() -> bool:
    """Process 0 writes the run directory; the others only read its checkpoint when resuming."""
    return process_index() == 0


def data_part() -> tuple[int, int]:
    """(index, count): this process feeds the index-th of `count` equal slices of every global batch."""
    return process_index(), process_count()


def first_process_decides(action: Callable[[], T], share: Callable[[T], int] = lambda result: 0) -> tuple[T | None, int]:
    """Run `action` on process 0 only and tell every process how it went: returns (the action's result, on
    process 0, else None; the integer `share(result)` of process 0, on every process). An error on process 0
    is raised there and, as a one-line UsageError or RunStopped naming it, on every other process."""
    if not _joined:
        result = action()
        return result, share(result)
    import numpy as np
    from jax.experimental import multihost_utils

    result, failure, shared = None, None, 0
    if process_index() == 0:
        try:
            result = action()
            shared = share(result)
        except Exception as error:  # noqa: BLE001 (shared with the other processes, then raised again)
            failure = error
    message = np.zeros(MESSAGE_BYTES, np.uint8)
    text = str(failure or "").encode()[:MESSAGE_BYTES]
    message[:len(text)] = np.frombuffer(text, np.uint8)
    kind = 0 if failure is None else 1 if isinstance(failure, UsageError) else 2
    verdict = multihost_utils.broadcast_one_to_all({"kind": np.int32(kind), "shared": np.int64(shared),
                                                    "message": message})
    if failure is not None:
        raise failure
    if int(verdict["kind"]):
        error = UsageError if int(verdict["kind"]) == 1 else RunStopped
        raise error(f"process 0 stopped: {bytes(verdict['message']).rstrip(bytes(1)).decode(errors='replace')}")
    return result, int(verdict["shared"])


def barrier(name: str) -> None:
    """Every process waits here for the others (a no-op on one host)."""
    if _joined:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
