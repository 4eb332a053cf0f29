"""The `--hessian_every` flags (lib.hessian.monitor) of the studies whose runs train through the shared
runner; their configs inherit HessianOptions. Importing this module loads no backend."""

import dataclasses

from lib.config import non_negative_int, option, positive_int

DEFAULT_EXAMPLES = 200  # lib.hessian.analysis.HessianSettings.batch_size, PyHessian's and DiversityNN's batch


@dataclasses.dataclass(frozen=True)
class HessianOptions:
    hessian_every: int = option(0, "record the loss Hessian's top eigenvalue and trace at initialization and every N "
                                   "epochs to hessian_history.h5 (0: never)", parse=non_negative_int, metavar="N")
    hessian_examples: int = option(DEFAULT_EXAMPLES, "test examples of --hessian_every's Hessian",
                                   parse=positive_int, metavar="N")
