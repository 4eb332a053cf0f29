"""One process of a run over several hosts, started as experiment.py, with two test hooks (tests/multihost):
`python multihost_process.py READ_ONLY_DIR DIE_AT_BATCH ARGV...` runs `experiment.py ARGV...` ('-': no hook).

READ_ONLY_DIR: writing anything under it (open for writing, h5py.File not read-only, replace, rename,
remove, mkdir) raises PermissionError, which fails the run: a process other than 0 must write nothing.
DIE_AT_BATCH: the process sends itself SIGKILL when its training pipeline makes global batch K (a lost peer).
Everything is patched in this process only.
"""

import builtins
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

read_only, die_at_batch, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
from lib import environment  # noqa: E402

environment.prepare(argv)


def forbid(path, what: str) -> None:
    if path is not None and os.path.abspath(os.fsdecode(path)).startswith(os.path.abspath(read_only) + os.sep):
        raise PermissionError(f"process {os.getpid()} must not write run files: {what} {path}")


def guarded(function, what: str, writes=lambda *args, **kwargs: True):
    def guard(path, *args, **kwargs):
        if not isinstance(path, int) and writes(*args, **kwargs):
            forbid(path, what)
        return function(path, *args, **kwargs)
    return guard


if read_only != "-":
    import h5py

    builtins.open = guarded(builtins.open, "open", lambda mode="r", *args, **kwargs: any(c in mode for c in "wax+"))
    os.open = guarded(os.open, "os.open", lambda flags, *args, **kwargs: flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    for name in ("replace", "rename", "remove", "unlink", "mkdir", "makedirs", "rmdir"):
        setattr(os, name, guarded(getattr(os, name), name))

    class ReadOnlyFile(h5py.File):
        def __init__(self, name, mode="r", *args, **kwargs):
            if mode != "r":
                forbid(name, f"h5py.File(mode={mode!r})")
            super().__init__(name, mode, *args, **kwargs)

    h5py.File = ReadOnlyFile

if die_at_batch != "-":
    from lib.datasets.pipeline import StreamBatches

    make_batch = StreamBatches.__getitem__

    def dying_batch(self, index):
        if self.first_batch + index == int(die_at_batch):
            os.kill(os.getpid(), signal.SIGKILL)
        return make_batch(self, index)

    StreamBatches.__getitem__ = dying_batch

from lib.cli import main  # noqa: E402

sys.exit(main(argv))
