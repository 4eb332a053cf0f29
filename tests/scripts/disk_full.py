"""experiment.py on a disk that fills up: `python disk_full.py FILE@N[,FILE@N...] ARGV...` runs
`experiment.py ARGV...` where the N-th write to a file whose name ends with FILE fails with
OSError(ENOSPC), as a full disk makes it fail: for an h5 file, the N-th dataset created in it (h5py);
for a text file (lib.storage.atomic), the N-th fsync of its temporary file, whose name ends with the
file's. Counts start at this process's start. Nothing is patched outside this process
(tests/core/test_disk_full.py)."""

import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

faults = {target: int(count) for target, count in (spec.split("@") for spec in sys.argv[1].split(",") if spec)}
argv = sys.argv[2:]
seen = dict.fromkeys(faults, 0)


def fail_if_due(name: str) -> None:
    for target in faults:
        if name.endswith(target):
            seen[target] += 1
            if seen[target] == faults[target]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


from lib import environment

environment.prepare(argv)
import h5py

create_dataset, fsync = h5py.Group.create_dataset, os.fsync


def full_create_dataset(self, name, *args, **kwargs):
    fail_if_due(self.file.filename)
    return create_dataset(self, name, *args, **kwargs)


def full_fsync(descriptor):
    fail_if_due(os.readlink(f"/proc/self/fd/{descriptor}"))
    return fsync(descriptor)


h5py.Group.create_dataset = full_create_dataset
os.fsync = full_fsync
from lib.cli import main

sys.exit(main(argv))
