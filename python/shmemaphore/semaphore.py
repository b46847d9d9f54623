"""A POSIX named semaphore (``sem_open``): the same objects as the Deno library's
``NamedSemaphore``, held the same way (a shared lock on its file), so that the Deno side's
``replace`` and ``deno task clean`` see a Python holder as live."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import time

from . import _libc
from .segment import HELD_BYTE, check_name


class NamedSemaphore:
    """A counting semaphore that other processes open by name.

    ``wait(timeout=None)`` blocks (the GIL released) and returns ``False`` if ``timeout`` seconds
    ran out first. Close it (or use ``with``); :meth:`unlink` removes the name.
    """

    def __init__(self, name: str, sem: int, created: bool) -> None:
        self.name = name
        self.created = created
        self._sem = sem
        path = "/dev/shm/sem." + name[1:]
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._inode = os.fstat(self._fd).st_ino
        _libc.try_lock(self._fd, HELD_BYTE, False)

    @classmethod
    def create(cls, name: str, value: int = 0, mode: int = 0o600) -> "NamedSemaphore":
        """Makes semaphore ``name`` with ``value`` and exactly ``mode``.

        :raises FileExistsError: if the name exists.
        """
        return cls._open(name, os.O_CREAT | os.O_EXCL, mode, value, True)

    @classmethod
    def open(cls, name: str) -> "NamedSemaphore":
        """Opens existing semaphore ``name``.

        :raises FileNotFoundError: if there is none.
        """
        return cls._open(name, 0, 0, 0, False)

    @classmethod
    def open_or_create(cls, name: str, value: int = 0, mode: int = 0o600) -> "NamedSemaphore":
        """Opens semaphore ``name``, or makes it with ``value`` if there is none."""
        try:
            return cls.create(name, value, mode)
        except FileExistsError:
            return cls.open(name)

    @classmethod
    def _open(cls, name: str, flags: int, mode: int, value: int, created: bool):
        raw = check_name(name)
        if not 0 <= value < 2**31:
            raise ValueError(f"Invalid value {value!r}: expected 0 to 2^31 - 1")
        sem = _libc.sem_open(raw, flags, mode, value)
        if not sem:
            action = "Cannot create semaphore" if created else "Cannot open semaphore"
            raise _libc.oserror("sem_open", _libc.errno(), name, action)
        if created:
            os.chmod("/dev/shm/sem." + name[1:], mode)  # (not the umask's)
        return cls(name, sem, created)

    def post(self) -> None:
        """Adds one to the count, waking one waiter."""
        if _libc.sem_post(self._handle()) != 0:
            raise _libc.oserror("sem_post", _libc.errno(), self.name, "Cannot post semaphore")

    def try_wait(self) -> bool:
        """Takes one from the count if it is above 0; ``False`` at once if not."""
        if _libc.sem_trywait(self._handle()) == 0:
            return True
        err = _libc.errno()
        if err in (_errno.EAGAIN, _errno.EINTR):
            return False
        raise _libc.oserror("sem_trywait", err, self.name, "Cannot wait on semaphore")

    def wait(self, timeout: float | None = None) -> bool:
        """Takes one from the count, waiting for it; ``False`` if ``timeout`` seconds ran out."""
        sem = self._handle()
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            if deadline is None:
                rc = _libc.sem_wait(sem)
            else:
                rc = _libc.sem_wait_until(sem, deadline)
            if rc == 0:
                return True
            err = _libc.errno()
            if err == _errno.EINTR:
                continue
            if err == _errno.ETIMEDOUT:
                return False
            raise _libc.oserror("sem_wait", err, self.name, "Cannot wait on semaphore")

    @property
    def value(self) -> int:
        """The count now."""
        out = ctypes.c_int(0)
        _libc.sem_getvalue(self._handle(), ctypes.byref(out))
        return out.value

    def linked(self) -> bool:
        """Whether its name still refers to this very semaphore."""
        try:
            return os.stat("/dev/shm/sem." + self.name[1:]).st_ino == self._inode
        except FileNotFoundError:
            return False

    def unlink(self) -> bool:
        """Removes its name if it still refers to this semaphore; ``False`` if it did not."""
        if not self.linked():
            return False
        return _libc.sem_unlink(check_name(self.name)) == 0

    def close(self) -> None:
        """Closes (``sem_close``). Idempotent; does not unlink."""
        if self._sem:
            _libc.sem_close(self._sem)
            self._sem = 0
            os.close(self._fd)

    @property
    def closed(self) -> bool:
        return not self._sem

    def _handle(self) -> int:
        if not self._sem:
            raise ValueError(f'NamedSemaphore "{self.name}" is closed')
        return self._sem

    def __enter__(self) -> "NamedSemaphore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NamedSemaphore({self.name!r}{', closed' if self.closed else ''})"
