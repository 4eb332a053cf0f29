"""SIGINT / SIGTERM during training: finish the current update, then stop cleanly.

The handler only records the signal and sets `model.stop_training`; Keras then ends the epoch
after the update in progress, and `callbacks.stop_on_interruption` (first in the callback
list) raises RunInterrupted at that epoch's end, before any writer sees the cut-short epoch.
Raising from the handler itself could land inside a lock of the data pipeline or of the
backend and hang the process; that happens only on a second signal, for a user who insists.
"""

import contextlib
import signal
import threading

from lib.errors import RunInterrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interruption:
    def __init__(self):
        self.signal_number: int | None = None
        self._model = None

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    def error(self) -> RunInterrupted:
        name = signal.Signals(self.signal_number or signal.SIGINT).name
        return RunInterrupted(self.signal_number or signal.SIGINT, f"interrupted by {name}; continue with --resume")

    def _on_signal(self, signal_number, frame):
        if self.requested:
            raise self.error()  # a second signal: stop now
        self.signal_number = signal_number
        if self._model is not None:
            self._model.stop_training = True

    @contextlib.contextmanager
    def handling(self, model):
        """Install the handlers (main thread only: Python delivers signals there) around training."""
        self._model = model
        installed = threading.current_thread() is threading.main_thread()
        previous = {number: signal.signal(number, self._on_signal) for number in SIGNALS} if installed else {}
        try:
            yield self
        except RunInterrupted:
            raise
        except KeyboardInterrupt:  # a SIGINT that came before the handler was in place
            self.signal_number = signal.SIGINT
            raise self.error() from None
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
