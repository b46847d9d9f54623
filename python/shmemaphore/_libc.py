"""The C library, through ctypes: POSIX shared memory and named semaphores (glibc), atomics
(libatomic), and open file description locks (fcntl). The one module that calls C.

libatomic (``libatomic.so.1``, the GCC runtime's atomics) gives the compare-and-swap, the atomic
add and the sequentially consistent loads, stores and fence that the wire contracts require: Python
has none of its own. Without it this package refuses to load, rather than race.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno
import fcntl
import os
import struct
import time

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _find(name: str):
    """A libc function, or librt's where an older glibc keeps it there."""
    try:
        return getattr(_libc, name)
    except AttributeError:
        rt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
        return getattr(rt, name)


shm_open = _find("shm_open")
shm_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
shm_open.restype = ctypes.c_int
shm_unlink = _find("shm_unlink")
shm_unlink.argtypes = [ctypes.c_char_p]
shm_unlink.restype = ctypes.c_int

sem_open = _libc.sem_open
sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
sem_open.restype = ctypes.c_void_p
for _name in ("sem_post", "sem_wait", "sem_trywait", "sem_close"):
    getattr(_libc, _name).argtypes = [ctypes.c_void_p]
    getattr(_libc, _name).restype = ctypes.c_int
sem_post, sem_wait, sem_trywait, sem_close = (
    _libc.sem_post,
    _libc.sem_wait,
    _libc.sem_trywait,
    _libc.sem_close,
)
sem_unlink = _libc.sem_unlink
sem_unlink.argtypes = [ctypes.c_char_p]
sem_unlink.restype = ctypes.c_int
sem_getvalue = _libc.sem_getvalue
sem_getvalue.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
sem_getvalue.restype = ctypes.c_int


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


CLOCK_MONOTONIC = 1
try:  # glibc 2.30+: a deadline on the monotonic clock
    _sem_clockwait = _libc.sem_clockwait
    _sem_clockwait.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Timespec)]
    _sem_clockwait.restype = ctypes.c_int
except AttributeError:  # pragma: no cover (older glibc)
    _sem_clockwait = None
    _sem_timedwait = _libc.sem_timedwait
    _sem_timedwait.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Timespec)]
    _sem_timedwait.restype = ctypes.c_int


def sem_wait_until(sem: int, deadline: float) -> int:
    """sem_clockwait on CLOCK_MONOTONIC until ``deadline`` (``time.monotonic()`` seconds)."""
    if _sem_clockwait is not None:
        ts = _Timespec(int(deadline), int((deadline % 1) * 1e9))
        return _sem_clockwait(sem, CLOCK_MONOTONIC, ctypes.byref(ts))
    real = time.time() + max(0.0, deadline - time.monotonic())  # pragma: no cover
    ts = _Timespec(int(real), int((real % 1) * 1e9))  # pragma: no cover
    return _sem_timedwait(sem, ctypes.byref(ts))  # pragma: no cover


def errno() -> int:
    """errno as the last ctypes call left it."""
    return ctypes.get_errno()


def oserror(call: str, err: int, name: str, action: str) -> OSError:
    """An ``OSError`` that names the call, the errno (by name) and the object."""
    code = _errno.errorcode.get(err, str(err))
    error = OSError(err, f'{action} "{name}": {call}: {code} ({os.strerror(err)})')
    error.filename = name
    return error


# ---- atomics (libatomic) -------------------------------------------------------------------

_atomic_path = ctypes.util.find_library("atomic") or "libatomic.so.1"
try:
    _atomic = ctypes.CDLL(_atomic_path)
except OSError as _e:  # pragma: no cover (a machine without the GCC runtime)
    raise ImportError(
        "shmemaphore needs libatomic (libatomic.so.1, the GCC runtime's atomics: Debian and "
        "Ubuntu package libatomic1, Fedora libatomic) for the compare-and-swap, atomic add and "
        "fences of its wire contracts; Python has none of its own"
    ) from _e

SEQ_CST = 5
_load4 = _atomic.__atomic_load_4
_load4.argtypes = [ctypes.c_void_p, ctypes.c_int]
_load4.restype = ctypes.c_uint32
_store4 = _atomic.__atomic_store_4
_store4.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int]
_store4.restype = None
_cas4 = _atomic.__atomic_compare_exchange_4
_cas4.argtypes = [
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint32),
    ctypes.c_uint32,
    ctypes.c_int,
    ctypes.c_int,
]
_cas4.restype = ctypes.c_bool
_add4 = _atomic.__atomic_fetch_add_4
_add4.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int]
_add4.restype = ctypes.c_uint32
_sub4 = _atomic.__atomic_fetch_sub_4
_sub4.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int]
_sub4.restype = ctypes.c_uint32


class Words:
    """Sequentially consistent 32-bit atomics on a mapping, by byte offset.

    Holds a pointer into the mapping (which keeps it from being closed): call :meth:`release`
    before the mapping closes.
    """

    def __init__(self, mapping) -> None:
        self._anchor = ctypes.c_char.from_buffer(mapping)
        self._base = ctypes.addressof(self._anchor)
        self._size = len(mapping)

    def _at(self, offset: int) -> int:
        if offset < 0 or offset + 4 > self._size or offset % 4:
            raise RangeError(f"offset {offset} is outside the mapping ({self._size} bytes)")
        return self._base + offset

    def load(self, offset: int) -> int:
        return _load4(self._at(offset), SEQ_CST)

    def store(self, offset: int, value: int) -> None:
        _store4(self._at(offset), value & 0xFFFFFFFF, SEQ_CST)

    def cas(self, offset: int, expected: int, desired: int) -> bool:
        """Compare-and-swap: ``True`` if the word was ``expected`` and is now ``desired``."""
        e = ctypes.c_uint32(expected & 0xFFFFFFFF)
        return _cas4(self._at(offset), ctypes.byref(e), desired & 0xFFFFFFFF, SEQ_CST, SEQ_CST)

    def add(self, offset: int, value: int) -> int:
        """Atomic add; returns the old value."""
        return _add4(self._at(offset), value & 0xFFFFFFFF, SEQ_CST)

    def sub(self, offset: int, value: int) -> int:
        """Atomic subtract; returns the old value."""
        return _sub4(self._at(offset), value & 0xFFFFFFFF, SEQ_CST)

    def release(self) -> None:
        self._anchor = None
        self._base = 0
        self._size = 0


class RangeError(ValueError):
    """An offset or a size out of range."""


# ---- open file description locks -------------------------------------------------------------

F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
_FLOCK = "@hhqqi4x"  # struct flock: l_type, l_whence, l_start, l_len, l_pid (32 bytes)


def try_lock(fd: int, byte: int, exclusive: bool) -> bool:
    """Takes an OFD lock on one byte of ``fd``'s file; ``False`` if another holds it."""
    kind = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, struct.pack(_FLOCK, kind, os.SEEK_SET, byte, 1, 0))
        return True
    except OSError as e:
        if e.errno in (_errno.EAGAIN, _errno.EACCES):
            return False
        raise


def unlock(fd: int, byte: int) -> None:
    """Releases this descriptor's lock on ``byte``."""
    fcntl.fcntl(fd, F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, byte, 1, 0))


def exclusively_held(fd: int, byte: int) -> bool:
    """Whether another open file description holds an exclusive lock on ``byte``: an owner."""
    probe = struct.pack(_FLOCK, fcntl.F_RDLCK, os.SEEK_SET, byte, 1, 0)
    got = fcntl.fcntl(fd, F_OFD_GETLK, probe)
    return struct.unpack(_FLOCK, got)[0] == fcntl.F_WRLCK


def held_at_all(fd: int, byte: int) -> bool:
    """Whether another open file description holds any lock on ``byte``."""
    probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
    got = fcntl.fcntl(fd, F_OFD_GETLK, probe)
    return struct.unpack(_FLOCK, got)[0] != fcntl.F_UNLCK
