"""The several-hosts flags (lib.distribution.options): bad combinations are one line and exit code 2 before
Keras starts, on either backend; TensorFlow is told to use --backend jax."""

import json
import os
import subprocess
import sys

import pytest

from lib.distribution.options import check_hosts, host_port, launch_options
from lib.errors import UsageError
from lib.studies.constnet.config import ConstnetConfig
from lib.studies.glorot.config import GlorotConfig, resolve
from tests.helpers import REPO, run_script

SEVERAL = ["--num_hosts", "2", "--coordinator", "127.0.0.1:12345", "--host_index", "0"]


@pytest.mark.parametrize("study", [[], ["constnet", "--dataset", "digits"]])
def test_tensorflow_refuses_several_hosts_in_one_line(tmp_path, study):
    argv = [*study, "--backend", "tensorflow", *SEVERAL, "--output_dir", str(tmp_path)]
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), *argv], capture_output=True,
                            text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "pass --backend jax" in result.stderr, result.stderr
    imports = run_script("cli_imports.py", *argv)  # refused before Keras (and TensorFlow) start
    assert json.loads(imports.stdout.strip().splitlines()[-1]) == {"code": 2, "keras": False, "tensorflow": False}
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("flags, hint", [
    (["--coordinator", "127.0.0.1:1", "--host_index", "0"], "pass --num_hosts N > 1"),
    (["--num_hosts", "2", "--coordinator", "127.0.0.1:1"], "go together"),
    (["--num_hosts", "2", "--host_index", "0"], "go together"),
    (["--num_hosts", "2", "--coordinator", "127.0.0.1:1", "--host_index", "2"], "must be in 0..1"),
    (["--num_hosts", "2", "--coordinator", "127.0.0.1:1", "--host_index", "0", "--num_gpus", "2"], "drop --num_gpus"),
])
def test_contradictory_host_flags_are_refused(flags, hint):
    from lib.cli import study_parser
    from lib.config import from_namespace
    from lib.studies import study

    config = from_namespace(GlorotConfig, study_parser(study("glorot")).parse_args([*flags, "--backend", "jax"]))
    with pytest.raises(UsageError, match=hint.replace("(", r"\(").replace(".", r"\.")):
        resolve(config)


def test_one_host_needs_no_host_flags_and_constnet_refuses_device_ranges_on_several():
    check_hosts(resolve(GlorotConfig(backend="tensorflow")))
    from lib.studies.constnet.config import resolve as resolve_constnet

    with pytest.raises(UsageError, match="drop -d"):
        resolve_constnet(ConstnetConfig(backend="jax", num_hosts=2, coordinator="127.0.0.1:1", host_index=1, device="0:1"))


@pytest.mark.parametrize("text, valid", [("127.0.0.1:12345", True), ("node01:1", True), ("[::1]:65535", True),
                                         ("127.0.0.1", False), (":123", False), ("host:0", False), ("host:65536", False),
                                         ("host:port", False)])
def test_coordinator_is_host_and_port(text, valid):
    import argparse

    if valid:
        assert host_port(text) == text
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="HOST:PORT"):
            host_port(text)


def test_resume_takes_the_launch_flags_of_its_own_command_line():
    import argparse

    from lib.studies.diversity.config import DiversityConfig

    given = argparse.Namespace(num_hosts=2, coordinator="10.0.0.1:1234", host_index=1)
    assert launch_options(GlorotConfig, given) == {"num_hosts": 2, "coordinator": "10.0.0.1:1234", "host_index": 1}
    assert launch_options(DiversityConfig, argparse.Namespace(num_hosts=1, coordinator=None, host_index=None)) == {}
    with pytest.raises(UsageError, match="trains on one host"):
        launch_options(DiversityConfig, given)


@pytest.mark.parametrize("coordinator, listens", [("127.0.0.1:1234", "127.0.0.1:1234"), ("[::1]:1234", "[::1]:1234"),
                                                   ("localhost:1234", "localhost:1234"), ("10.0.0.1:1234", "10.0.0.1:1234"),
                                                   ("node01:1234", None), (None, None)])
def test_process_0_listens_on_the_coordinator_address_it_was_given(monkeypatch, coordinator, listens):
    from lib.distribution.hosts import bind_address

    monkeypatch.delenv("JAX_COORDINATOR_BIND_ADDRESS", raising=False)
    assert bind_address(coordinator) == listens  # None: JAX's own choice, every interface
    monkeypatch.setenv("JAX_COORDINATOR_BIND_ADDRESS", "10.0.0.2:1234")
    assert bind_address(coordinator) == "10.0.0.2:1234"


def test_a_process_whose_peers_never_join_ends_after_the_join_timeout(tmp_path):
    """No coordinator at the address: JAX ends the process (its own message) once the join timeout has passed,
    after initlab's line saying what it waited for; nothing is written."""
    from tests.multihost.processes import free_port, host_flags

    port = free_port()
    environment = {**os.environ, "INITLAB_JOIN_TIMEOUT_S": "3", "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, os.path.join(REPO, "experiment.py"), "--backend", "jax", "--dataset", "digits",
                             "--units", "8", "--epochs", "1", "--output_dir", str(tmp_path / "runs"),
                             *host_flags(2, 1, port)], capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode != 0
    assert (f"joining a run of 2 processes through the coordinator 127.0.0.1:{port} as process 1 (every process must "
            "join within 3 s" in result.stdout), result.stdout[-2000:] + result.stderr[-2000:]
    assert not (tmp_path / "runs").exists()
