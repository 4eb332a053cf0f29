"""Who writes a run directory on several hosts: process 0, alone.

Two processes appending to one history.h5, or racing to create the directory, would corrupt the run,
and the run directory's lock (lib.runs.run_dir) admits one writer anyway. So process 0 checks the path,
creates or resumes the run (cutting its files back to the checkpoint) and writes every file; the other
processes get a RunFiles: where the run is, to read its checkpoint when resuming (the run directory must
then be on a filesystem every host sees), and no way to write. They still compute everything the
training collectives need, in step with process 0 (lib.runs.training).
"""

import os

from lib.distribution.hosts import first_process_decides


class RunFiles:
    """The run directory as a process other than 0 sees it: paths to read, nothing to write."""

    def __init__(self, path: str):
        self.path = path

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)


def check_run_path_on_hosts(path: str, *, overwrite: bool, resume: bool) -> None:
    """lib.runs.run_dir.check_run_path on process 0; the others stop with it if it fails."""
    from lib.runs.run_dir import check_run_path

    first_process_decides(lambda: check_run_path(path, overwrite=overwrite, resume=resume))


def open_run_on_hosts(path: str, config, argv: list[str]):
    """(run, start_epoch): lib.runs.run_dir.open_run on process 0, a RunFiles elsewhere; every process trains
    from the start epoch process 0 found."""
    from lib.runs.run_dir import open_run

    opened, start_epoch = first_process_decides(lambda: open_run(path, config, argv), share=lambda opened: opened[1])
    return (opened[0] if opened is not None else RunFiles(path)), start_epoch
