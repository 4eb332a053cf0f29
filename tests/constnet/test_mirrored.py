"""`-d 0:1` trains a ConstNet under MirroredStrategy; two logical CPU devices stand in for two GPUs.

Run in a fresh process (logical devices must be set before TensorFlow starts): the same run on
one device and on two replicas, batch 128 split 64 + 64, must end with the same weights. BN
statistics are synchronized across replicas, so they are those of the whole batch, as on one device.

Summing a gradient in two halves rounds differently from summing it whole (1e-7 after one
update), and training amplifies such differences: measured max |dw| 3.7e-6 after one epoch of
12 updates, 1.3e-4 after 24. The comparison is therefore made after one epoch.
"""

import json

from tests.helpers import run_script


def test_two_replicas_match_one_device():
    result = run_script("constnet_mirrored.py")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["moved"] > 1e-3, report  # training really changed the weights
    assert report["max_abs_diff"] < 1e-5, report
    assert abs(report["test_loss"][0] - report["test_loss"][1]) < 1e-5, report
    assert report["correlation_epochs"] == [0.0, 1.0], report  # the correlation callback ran under the strategy
