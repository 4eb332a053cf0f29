#!/usr/bin/env python
"""initlab command line: `python experiment.py [study] FLAGS` (studies: glorot, constnet) and the
commands `analyze RUN_DIR...`, `resume RUN_DIR`, `sweep [FLAGS]`, `preview`.

With no study name the glorot study runs, so xavier_init's command lines work as written,
e.g. `python experiment.py --xavier --activation tanh --five_layer --dataset cifar10 --num_gpus 1`;
`python experiment.py constnet` takes BeyondSigProp's train.py flags.
"""

import sys

from lib import environment

if __name__ == "__main__":
    environment.prepare(sys.argv[1:])
    from lib.cli import main

    sys.exit(main())
