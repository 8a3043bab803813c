"""Atomic file output.

Every command that writes files writes them atomically: the data goes to a hidden temporary file in
the same folder (`.NAME.PID-RANDOM.tmpSUFFIX`), which is renamed over the target only once complete. An
interrupted run (SIGINT: cleaned at once; SIGKILL: cleaned by the next run that writes the same target,
once the process that owned it is gone) never leaves a partial target behind.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


def _stale_temps(path: Path):
    for p in path.parent.glob(f".{path.name}.*-*.tmp*"):
        pid = p.name[len(path.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            yield p


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` (same suffix, so tools that check it are happy); on
    success it replaces `path` in one rename, on any exception it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_temps(path):
        stale.unlink(missing_ok=True)
    import secrets

    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}"
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
