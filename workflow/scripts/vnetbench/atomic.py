"""Writing a file so that a reader never sees half of it.

Only `os`: every block job imports it (see block_client.py), and each import costs start-up.
"""

import os


def write_atomic(path: str, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, rename it over `path`, fsync the folder.

    A crash or a full disk leaves either the old file or the new one, never a torn one; the
    temporary file is removed on any failure.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:  # noqa: SIM105  (contextlib.suppress would cost every cell job its import)
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
