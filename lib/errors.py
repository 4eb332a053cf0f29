"""Errors that the command line turns into one line on stderr and a non-zero exit code."""


class UsageError(Exception):
    """A bad flag value, name or path: the message says what to do instead (exit code 2)."""

    exit_code = 2


class DatasetUnavailable(UsageError):
    """A dataset file is absent and could not be fetched (offline)."""

    exit_code = 1
