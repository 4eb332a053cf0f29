"""Run `experiment.py ARGV...` through lib.cli.main in this fresh process, then print one JSON line:
the exit code and whether Keras or TensorFlow was imported (flag errors, --help and analyze
errors must never start them: TensorFlow prints start-up notices and takes seconds)."""

import contextlib
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

from lib.cli import main  # noqa: E402

with contextlib.redirect_stdout(io.StringIO()):  # --help text: only the JSON line goes to stdout
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit_:  # argparse's --help
        code = exit_.code
print(json.dumps({"code": code, "keras": "keras" in sys.modules, "tensorflow": "tensorflow" in sys.modules}))
