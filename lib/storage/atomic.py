"""Write files so that a reader sees the old or the new content, never half of one; and turn a full
disk into one line that names the file.

Every writer of initlab writes a temporary file and renames it. Temporary files are created with
mode 0666 and the user's umask applied by the kernel, like any other file (tempfile.mkstemp would
make them 0600, and the rename would keep that): collaborators read a run as the umask allows.
"""

import contextlib
import os
import secrets
import shutil

from lib.errors import DiskFull, disk_full_reason
from lib.processes import process_alive

TEMPORARY_PREFIX = ".tmp-"  # a file left under this name by a crash is garbage
MEMORY_FOLDER = "/dev/shm"  # Linux's memory-backed file system: where a library's file is made (library_file)
MEMORY_PREFIX = ".initlab-"  # + the writer's pid: library_file's files in MEMORY_FOLDER
PARTIAL = ".partial"  # the other temporary names: `history.h5.partial`, `best_validation.partial.weights.h5`


def is_temporary(name: str) -> bool:
    """A file name that only a write in progress (or one a crash cut short) has."""
    return name.startswith(TEMPORARY_PREFIX) or name.endswith(PARTIAL) or f"{PARTIAL}." in name


def remove_temporaries(folder: str) -> None:
    """Remove every temporary file under `folder` (its writer holds the folder's lock and has stopped)."""
    for parent, _, names in os.walk(folder):
        for name in names:
            if is_temporary(name):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(parent, name))


@contextlib.contextmanager
def writing(path: str, *temporaries: str):
    """Around the writing of `path` (through `temporaries`): the temporaries are removed if the write
    fails, and a full disk or quota becomes DiskFull naming `path`."""
    try:
        yield
    except BaseException as error:
        for temporary in temporaries:
            with contextlib.suppress(OSError):
                os.remove(temporary)
        reason = disk_full_reason(error) if isinstance(error, Exception) else None
        if reason is not None and not isinstance(error, DiskFull):
            raise DiskFull(path, reason) from error
        raise


def _create_temporary(path: str) -> tuple[int, str]:
    """A new file beside `path`, opened for writing, created 0666 & ~umask."""
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        temporary = os.path.join(folder, f"{TEMPORARY_PREFIX}{secrets.token_hex(4)}-{name}")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


@contextlib.contextmanager
def h5_file(path: str):
    """An empty h5py.File to fill in the `with` block, then written to `path.partial` and renamed to `path`.

    The file is made in memory (HDF5's core driver, under the name `path.partial`) and written by
    Python: HDF5 writing to a full disk itself fails only as the file closes, keeps the file open
    in the library and can crash the process at exit, where Python's write fails cleanly.
    """
    import h5py

    partial = path + PARTIAL
    with writing(path, partial):
        with h5py.File(partial, "w", driver="core", backing_store=False) as f:
            yield f
            f.flush()
            image = f.id.get_file_image()
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), "wb") as out:
            out.write(image)
            out.flush()
            os.fsync(out.fileno())  # on disk before its name: a checkpoint's state.json may name it next
        os.replace(partial, path)


@contextlib.contextmanager
def library_file(path: str, *, size: int):
    """A path for a library that writes a file only by name (Keras' save_weights) to write about `size`
    bytes to; what it wrote is then copied to `path` by Python and renamed.

    The library writes into MEMORY_FOLDER when that has room for it, for the reason h5_file builds its
    files in memory: HDF5 cut short by a full disk crashes the process at exit (measured with Keras'
    save_weights on a full tmpfs: a segfault after the error). Python's copy fails cleanly, as DiskFull.
    The file there is named after this process, so that one a SIGKILL left is removed by the next write
    (memory is not freed by a reboot-free cluster node). Without such a folder (macOS) the library writes
    beside `path`, where remove_temporaries finds what a crash left.
    """
    in_memory = _has_room(MEMORY_FOLDER, 2 * size)
    if in_memory:
        _remove_orphans(MEMORY_FOLDER)
    folder = MEMORY_FOLDER if in_memory else os.path.dirname(os.path.abspath(path))
    owner = f"{MEMORY_PREFIX}{os.getpid()}-" if in_memory else TEMPORARY_PREFIX
    temporary = os.path.join(folder, f"{owner}{secrets.token_hex(4)}-{os.path.basename(path)}")
    try:
        with writing(path, temporary):
            yield temporary
        if not in_memory:
            os.replace(temporary, path)
            return
        with writing(path):
            descriptor, copy = _create_temporary(path)
        with writing(path, copy):
            with open(temporary, "rb") as source, os.fdopen(descriptor, "wb") as target:
                shutil.copyfileobj(source, target)
                target.flush()
                os.fsync(target.fileno())
            os.replace(copy, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def _has_room(folder: str, size: int) -> bool:
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # no such folder; no statvfs (Windows)
        return False
    return stats.f_bavail * stats.f_frsize > size


def _remove_orphans(folder: str) -> None:
    """Remove library_file's files in `folder` whose process has ended (a SIGKILL during the write)."""
    for name in os.listdir(folder):
        pid = name[len(MEMORY_PREFIX):].split("-", 1)[0]
        if name.startswith(MEMORY_PREFIX) and pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))



def write_text(path: str, text: str) -> None:
    with writing(path):
        descriptor, temporary = _create_temporary(path)
    with writing(path, temporary):
        with os.fdopen(descriptor, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
