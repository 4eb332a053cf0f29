"""Errors that the command line turns into one line on stderr and a non-zero exit code."""

import errno
import os


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


class DiskFull(RunStopped):
    """A file could not be written because the disk, or the user's quota, is full (exit code 1).

    One line naming the file and how to go on: `run_dir` (attached by lib.runs.run_dir once the run
    is known) turns "try again" into the command that resumes it; `note` adds what else could not be
    written (status.json itself, on the same full disk).
    """

    def __init__(self, path: str, reason: str, *, run_dir: str | None = None, note: str = ""):
        super().__init__(path, reason)
        self.path, self.reason, self.run_dir, self.note = path, reason, run_dir, note

    def __str__(self) -> str:
        then = f"continue with: experiment.py resume {self.run_dir}" if self.run_dir else "try again"
        return f"cannot write {self.path}: {self.reason}{self.note}; free some space, then {then}"


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def disk_full_reason(error: BaseException) -> str | None:
    """"No space left on device" or "Disk quota exceeded" when `error` says the disk or quota is full;
    None otherwise. An OSError carries the errno (h5py's too); TensorBoard's TensorFlow file writer
    raises its own error type whose message ends with the system's text."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return os.strerror(error.errno)
    texts = [os.strerror(number) for number in DISK_FULL_ERRNOS]
    return next((text for text in texts if text in str(error)), None)
