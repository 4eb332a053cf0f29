"""experiment.py with a trap: `python kill_during_write.py FILE@N ARGV...` runs `experiment.py ARGV...`
and sends itself SIGKILL when the N-th dataset of an h5 file whose name ends with FILE is being
created (an empty first argument: no trap). h5py is patched in this process only (tests/core/test_resume.py)."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

target, dataset_number = sys.argv[1].split("@") if "@" in sys.argv[1] else ("", "0")
argv = sys.argv[2:]
from lib import environment

environment.prepare(argv)
import h5py

created = [0]
create_dataset = h5py.Group.create_dataset


def killing_create_dataset(self, name, *args, **kwargs):
    if target and self.file.filename.endswith(target):
        created[0] += 1
        if created[0] == int(dataset_number):
            os.kill(os.getpid(), signal.SIGKILL)
    return create_dataset(self, name, *args, **kwargs)


h5py.Group.create_dataset = killing_create_dataset
from lib.cli import main

sys.exit(main(argv))
