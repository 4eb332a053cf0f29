"""experiment.py that waits: `python hold_after_epoch.py EPOCH GATE ARGV...` runs `experiment.py ARGV...`
and, once the checkpoint of EPOCH is written, waits until the file GATE exists (at most 10 minutes)
before training on: a run that is certainly alive while a test tries to write it too
(tests/core/test_run_lock.py). The run itself is unchanged."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

epoch, gate, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
from lib import environment

environment.prepare(argv)
from lib.runs import checkpoint

save_checkpoint = checkpoint.save_checkpoint


def holding_save_checkpoint(run_path, model, saved_epoch):
    path = save_checkpoint(run_path, model, saved_epoch)
    deadline = time.time() + 600
    while saved_epoch == epoch and not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.05)
    return path


checkpoint.save_checkpoint = holding_save_checkpoint  # before callbacks.epoch_checkpoint imports it
from lib.cli import main

sys.exit(main(argv))
