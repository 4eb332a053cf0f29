"""What several tests share: the repository root and running experiment.py or a test script in a
child process (a fresh interpreter, as a user would start it)."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "tests", "scripts")


def run_script(name: str, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """tests/scripts/<name> in a child Python with the repository importable; output captured as text."""
    environment = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout)
