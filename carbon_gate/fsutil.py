"""Atomic file writes (a reader, or an interrupted run, never sees half a file) and bounded reads of
files a pull request chooses."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` through a temp file in the same directory and an atomic rename.

    The file gets the mode any new file would (0666 less the umask), not mkstemp's 0600: results
    and reports are read by other users and CI steps."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _create_temp(target: Path) -> tuple[int, Path]:
    """Like tempfile.mkstemp next to `target` (O_EXCL, so never an existing file or a symlink), but
    created with 0666 so the kernel applies the umask; reading the umask would mean changing it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {target}")


def read_small_file(path: str | os.PathLike[str], limit: int = 1 << 20) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A config from a pull request names such
    files (a profile): `/dev/zero`, a FIFO or a huge file would otherwise hang or exhaust the gate.
    Raises OSError (or ValueError when too large) with the reason."""
    with open(path, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"{path}: not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit} bytes")
    return data
