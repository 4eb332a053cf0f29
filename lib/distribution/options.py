"""The flags of a run over several hosts, for the studies whose configs inherit HostOptions (glorot,
constnet). Importing this module loads no backend, so bad combinations fail in one line before Keras starts.

The three flags say how this process joins the run, not what the run computes: the same global batch
gives the same weights on any number of hosts. So `resume` takes them from its own command line (each
process has its own --host_index, and a restarted job may use another coordinator port), never from
config.json, and a resumed run may change them (LAUNCH_FIELDS, ignored when configs are compared).
"""

import argparse
import dataclasses

from lib.config import non_negative_int, option, positive_int
from lib.errors import UsageError

LAUNCH_FIELDS = ("num_hosts", "coordinator", "host_index")


def host_port(text: str) -> str:
    """HOST:PORT, e.g. 10.0.0.1:1234, node01:1234, [::1]:1234."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT with a port in 1..65535 (e.g. 10.0.0.1:12345), got '{text}'")
    return text


@dataclasses.dataclass(frozen=True)
class HostOptions:
    num_hosts: int = option(1, "processes of this one run (JAX backend): N > 1 trains data-parallel over every device "
                            "of N processes, each started with the same flags", parse=positive_int, metavar="N")
    coordinator: str | None = option(None, "HOST:PORT where process 0 listens for the others (default with "
                                     "--num_hosts > 1: from Slurm's environment)", parse=host_port, metavar="HOST:PORT")
    host_index: int | None = option(None, "this process's index 0..N-1; process 0 writes the run's files (default "
                                    "with --num_hosts > 1: from Slurm's environment)", parse=non_negative_int,
                                    metavar="I")


def check_hosts(config) -> None:
    """Reject combinations that cannot run; `config.backend` must be resolved."""
    if config.num_hosts == 1:
        if config.coordinator is not None or config.host_index is not None:
            raise UsageError("--coordinator and --host_index join a run over several hosts; pass --num_hosts N > 1 "
                             "with them")
        return
    if config.backend != "jax":
        raise UsageError(f"--num_hosts {config.num_hosts} needs the JAX backend (TensorFlow's multi-worker training "
                         "does not work with Keras 3's fit): pass --backend jax")
    if (config.coordinator is None) != (config.host_index is None):
        raise UsageError("--coordinator and --host_index go together (or neither, under Slurm, which tells JAX both)")
    if config.host_index is not None and config.host_index >= config.num_hosts:
        raise UsageError(f"--host_index must be in 0..{config.num_hosts - 1} for --num_hosts {config.num_hosts}, "
                         f"got {config.host_index}")


def launch_options(config_class, namespace: argparse.Namespace) -> dict:
    """The resume command's own launch flags (parsed with add_flags(parser, HostOptions)) as fields to replace
    in the resumed run's config; {} for a study without several hosts, which must not be given them."""
    values = {name: getattr(namespace, name) for name in LAUNCH_FIELDS}
    if issubclass(config_class, HostOptions):
        return values
    if values != {f.name: f.default for f in dataclasses.fields(HostOptions)}:
        raise UsageError("this run's study trains on one host; resume it without --num_hosts, --coordinator and "
                         "--host_index")
    return {}
