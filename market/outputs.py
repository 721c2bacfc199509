"""Output folders that are written whole or not at all, by one writer at a time.

A run's files go into a hidden staging folder beside the target (``.NAME.tmp-XXXX``), which is
renamed into place only once everything is written; an earlier folder at the target is moved
aside first and deleted only after the new one is in place. So a run that fails, is
interrupted or is killed never destroys what was there, and readers never see a half-written
folder. A lock file beside the target (``.NAME.lock``, removed on release) keeps two writers
of the same folder apart; staging folders left by a killed writer are removed by the next
writer that holds the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["OutputError", "Terminated", "check_writable", "locked", "publish", "signals_raise",
           "staging_folder"]


class OutputError(ValueError):
    """An output location that cannot be used; the message is one line naming it."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) received: handled like Ctrl-C, with the signal's number kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(exc: BaseException) -> int:
    """The shell's status for a run stopped by ``exc``: 128 + the signal (130 for Ctrl-C)."""
    return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def signals_raise(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``Terminated`` (a ``KeyboardInterrupt``), so
    that a scheduler's kill or a timeout stops a run the way Ctrl-C does: cleanly, keeping what
    was computed. Outside the main thread (where signals cannot be handled) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_terminated) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _describe(path: Path, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"


def check_writable(target: Path, option: str = "--out") -> None:
    """Refuse a target that is a file, lies under a file, or whose folder cannot be created or
    written; creates the parent folders. Checked before anything is simulated."""
    if target.exists() and not target.is_dir():
        raise OutputError(f"{option} {target}: is a file, not a folder; choose a folder")
    if target.name in ("", ".", ".."):
        raise OutputError(f"{option} {target}: name a folder (not '.' or '..')")
    parent = target.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{option} {target}: a part of the path is a file, not a "
                          "folder") from None
    except OSError as exc:
        raise OutputError(f"{option} {target}: cannot create the folder: "
                          f"{_describe(parent, exc)}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {target}: cannot write in {parent} (permission denied)")


@contextlib.contextmanager
def locked(target: Path, option: str = "--out") -> Iterator[None]:
    """Hold the lock of ``target`` (``.NAME.lock`` beside it) for the block; another holder makes
    this raise ``OutputError`` at once. The lock file is removed on release; a lock held by a
    process that died is released by the kernel."""
    lock = target.absolute().parent / f".{target.name}.lock"
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"{option} {target}: cannot create its lock file: "
                              f"{_describe(lock, exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"{option} {target}: another run is writing this folder now; "
                              "wait for it or choose another --out") from None
        try:  # the file may have been removed by a holder releasing it while we waited
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        _remove_stale_staging(target)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _remove_stale_staging(target: Path) -> None:
    """Clean up after a writer that was killed (we hold the lock, so no live writer owns these):
    a folder it had set aside goes back in place if the target is missing, staging folders go."""
    target = target.absolute()
    for aside in target.parent.glob(f".{target.name}.old-*"):
        if not target.exists() and (aside / "previous").is_dir():
            os.replace(aside / "previous", target)
        shutil.rmtree(aside, ignore_errors=True)
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def staging_folder(target: Path) -> Path:
    """A new, empty hidden folder beside ``target`` to write into (call under ``locked``)."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.absolute().parent))
    except OSError as exc:
        raise OutputError(f"{target}: cannot create a folder beside it: "
                          f"{exc.strerror or exc}") from None


def discard(staging: Path) -> None:
    """Remove a staging folder that will not be published."""
    shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, target: Path) -> None:
    """Put the finished ``staging`` folder in place of ``target``.

    An existing target is first renamed aside and deleted only once the new folder is in place,
    so at every instant the target is either the old folder, absent for the moment between two
    renames (the old one then sits beside it as ``.NAME.old-XXXX``), or the new one.
    """
    target = target.absolute()
    aside = None
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, aside / "previous")
    try:
        os.replace(staging, target)
    except OSError as exc:
        if aside is not None:  # put the old folder back
            os.replace(aside / "previous", target)
            shutil.rmtree(aside, ignore_errors=True)
        if exc.errno in (errno.EXDEV, errno.ENOTEMPTY, errno.EEXIST):
            raise OutputError(f"{target}: cannot move the results in place: "
                              f"{exc.strerror}") from None
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
