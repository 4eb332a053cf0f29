#!/usr/bin/env python
"""initlab command line: `python experiment.py [study] FLAGS`, `python experiment.py preview`.

With no study name the glorot study runs, so xavier_init's command lines work as written,
e.g. `python experiment.py --xavier --activation tanh --five_layer --dataset cifar10 --num_gpus 1`.
"""

import sys

from lib import environment

if __name__ == "__main__":
    environment.prepare(sys.argv[1:])
    from lib.cli import main

    sys.exit(main())
