"""Files replaced whole or not at all: written beside their final name, then renamed."""

from __future__ import annotations

import os
import os.path as osp
import tempfile
from collections.abc import Callable
from typing import BinaryIO


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Writes ``path`` through ``write(file)`` so that a reader sees the old file or the new one.

    The data go to a temporary file in the same folder, which ``os.replace`` then renames to
    ``path`` (atomic on POSIX and Windows); a process killed before the rename leaves ``path`` as
    it was. The temporary file is removed when ``write`` raises.

    Args:
        path: The file to write.
        write: Writes the content into the binary file it is given.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
