"""Errors that the command line turns into one line on stderr and a non-zero exit code."""


class UsageError(Exception):
    """A bad flag value, name or path: the message says what to do instead (exit code 2)."""

    exit_code = 2


class DatasetUnavailable(UsageError):
    """A dataset file is absent and could not be fetched (offline)."""

    exit_code = 1


class RunStopped(Exception):
    """A run that ended early; its status.json says why. The message is one line."""

    exit_code = 1


class RunDiverged(RunStopped):
    """The loss or the weights became NaN or infinite (exit code 3)."""

    exit_code = 3


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM: exit code 128 + the signal number (130, 143), as a shell reports it.

    A KeyboardInterrupt, not an Exception, so that no library's `except Exception` (a data
    loader's, say) can swallow it and carry on training.
    """

    def __init__(self, signal_number: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signal_number
