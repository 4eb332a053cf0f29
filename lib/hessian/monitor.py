"""`--hessian_every N`: the sharpness followed over training. At initialization and after every N-th
epoch the loss Hessian's top eigenvalue (power iteration) and trace (Hutchinson) on a fixed batch of
test examples go to `hessian_history.h5` (an epoch table with rows every N epochs, cut back with
the others on --resume) and to TensorBoard as `Hessian/top_eigenvalue`, `Hessian/trace`.

lib.hessian.options holds the two flags for the studies whose runs train through the shared runner
(glorot, constnet); callbacks.epoch_monitor.EpochMonitor calls the meter and hands rows to the writers.
"""

import numpy as np

from lib.hessian import spectrum
from lib.hessian.analysis import HessianSettings

HISTORY_FILE = "hessian_history.h5"
DEFAULTS = HessianSettings()


class HessianMeter:
    """measure(epoch) -> {top_eigenvalue, trace, trace_standard_error, trace_samples, power_iterations} of
    `model` now, with PyHessian's defaults; the same probe seeds every time, so rows differ only by the weights."""

    def __init__(self, model, loss, x, y, settings: HessianSettings = DEFAULTS):
        from lib.backend.hessian_vector import HessianVectorProduct

        self.hvp = HessianVectorProduct(model, loss, [(x, y)])
        self.settings = settings

    def measure(self, epoch: int) -> dict:
        size, settings = self.hvp.parameters.size, self.settings
        top = spectrum.top_eigenvalues(self.hvp, size, max_iterations=settings.max_iterations,
                                       tolerance=settings.tolerance, seed=settings.seed)
        samples = spectrum.hutchinson_trace(self.hvp, size, max_iterations=settings.trace_iterations,
                                            tolerance=settings.tolerance, seed=settings.seed + 1)
        return {"top_eigenvalue": float(top.values[0]), "power_iterations": top.iterations[0],
                "trace": float(np.mean(samples)), "trace_samples": len(samples),
                "trace_standard_error": float(np.std(samples, ddof=1) / np.sqrt(len(samples))) if len(samples) > 1
                else float("nan")}


class HessianHistory:
    def __init__(self, path: str, config_json: str, every: int, *, resume: bool = False):
        from lib.storage.epoch_table import EpochTableWriter

        self._table = EpochTableWriter(path, config_json=config_json, kind="hessian", first_epoch=0, every=every,
                                       resume=resume)

    def append(self, epoch: int, row: dict, logs: dict) -> None:
        self._table.append({"epoch": epoch, **row})

    def close(self) -> None:
        self._table.close()


class HessianScalars:
    def __init__(self, log_dir: str):
        from lib.storage.tensorboard_scalars import TaggedScalars

        self._scalars = TaggedScalars(log_dir)

    def append(self, epoch: int, row: dict, logs: dict) -> None:
        self._scalars.write(epoch, {"Hessian/top_eigenvalue": row["top_eigenvalue"], "Hessian/trace": row["trace"]})

    def close(self) -> None:
        self._scalars.close()


def hessian_monitor(options, loss, test, run_dir, config_json: str, start_epoch: int = 0):
    """The EpochMonitor of --hessian_every on the first --hessian_examples examples of `test` (a Split)."""
    from callbacks.epoch_monitor import EpochMonitor

    if len(test) < options.hessian_examples:
        from lib.errors import UsageError

        raise UsageError(f"--hessian_examples {options.hessian_examples}: the test split has {len(test)} examples")
    probe = test.head(options.hessian_examples)
    return EpochMonitor(lambda model: HessianMeter(model, loss, probe.x, probe.y),
                        HessianHistory(run_dir.file(HISTORY_FILE), config_json, options.hessian_every,
                                       resume=start_epoch > 0),
                        HessianScalars(run_dir.file("tb")), start_epoch=start_epoch, every=options.hessian_every)
