"""The sweep tests' shared pieces: a two-node Ray cluster on loopback for the whole session (its
start costs 5-10 s), run in a process of its own with its files in a temporary folder; and running
`experiment.py sweep` as a user would, in a child process."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from tests.helpers import REPO
from tests.sweeps.processes import command_line, descendants, processes_mentioning

CLUSTER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ray_cluster.py")
START_TIMEOUT_S = 120


class RayCluster:
    """The cluster process and how to drive it: its address, the environment a driver needs to join it
    (the same HOME, which holds Ray's auth token, and RAY_TMPDIR), and `kill` / `add` of worker nodes."""

    def __init__(self, folder):
        home = folder / "home"
        home.mkdir()
        # Ray's session files: a short folder of its own, since Ray's socket paths must fit in 107 bytes
        self.temporary = tempfile.mkdtemp(prefix="ir-")
        tmp = self.temporary
        self.env = {**clean_environment(), "HOME": str(home), "RAY_TMPDIR": str(tmp), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
        self.log = folder / "cluster.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([sys.executable, CLUSTER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=log, text=True, env=self.env, cwd=str(folder))
        try:
            started = self._answer()
        except Exception:  # no cluster (or not its first line): nothing of it may outlive the test
            self.process.kill()
            self.process.wait()
            shutil.rmtree(self.temporary, ignore_errors=True)
            raise
        self.address, self.nodes = started["address"], started["nodes"]

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Ray cluster process ended (exit code {self.process.wait()}): {self.log.read_text()[-2000:]}")
        return json.loads(line)

    def _command(self, text: str) -> dict:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        answer = self._answer()
        self.nodes = answer.get("nodes", self.nodes)
        return answer

    def kill(self, node_prefix: str) -> str:
        return self._command(f"kill {node_prefix}")["killed"]

    def add(self) -> str:
        return self._command("add")["added"]

    def processes(self) -> set[int]:
        return descendants(self.process.pid)

    def stop(self) -> None:
        try:
            self._command("stop")
            self.process.wait(60)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.temporary, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    cluster = RayCluster(tmp_path_factory.mktemp("ray_cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def ray_tmpdir():
    """A folder for an embedded Ray's session files, short since Ray's socket paths must fit in 107 bytes
    (tmp_path's are longer); removed afterwards, whatever the test left in it."""
    folder = tempfile.mkdtemp(prefix="ir-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def clean_environment() -> dict:
    """This process's environment without Ray's variables (an earlier in-process Ray may have set some,
    e.g. RAY_AUTH_MODE) and with the repository importable: for the sweep and cluster processes."""
    return {**{name: value for name, value in os.environ.items() if not name.startswith("RAY_")}, "PYTHONPATH": REPO}


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, os.path.join(REPO, "experiment.py"), "sweep", *args]


def wait_for(condition, timeout: float, what: str, poll: float = 0.2):
    """condition()'s first truthy value, polled until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def run_processes(folder) -> list[int]:
    """experiment.py processes still running a run under `folder` (their argv names its --output_dir); not a
    sweep driver, whose argv names the folder too."""
    return [pid for pid in processes_mentioning(str(folder))
            if "experiment.py" in command_line(pid) and "experiment.py sweep" not in command_line(pid)]
