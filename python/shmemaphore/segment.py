"""A POSIX shared memory object, mapped: the same objects as the Deno library's ``Segment``."""

from __future__ import annotations

import mmap
import os
import stat as _stat

from . import _libc
from .errors import ShmemaphoreError

#: The byte every holder of an object locks, shared, for as long as it holds it: a live holder
#: is one whose lock the kernel keeps (the Deno library's ``deno task clean`` and ``replace`` see
#: a Python holder as live). Past any byte the ring or the channel lock.
HELD_BYTE = 2**52


def check_name(name: str) -> bytes:
    """The name as bytes, or a ``ValueError`` that says what is wrong with it."""
    if not isinstance(name, str) or not name.startswith("/") or "/" in name[1:]:
        raise ValueError(f"Invalid name {name!r}: expected / then a name without /, like '/frames'")
    raw = name.encode()
    if len(raw) < 2 or len(raw) > 251 or b"\0" in raw:
        raise ValueError(f"Invalid name {name!r}: 1 to 250 bytes after the /, no NUL")
    return raw


class Segment:
    """A shared memory object, mapped read-write.

    ``create`` fails if the name exists; ``open`` if it does not. ``buf`` is a ``memoryview`` of
    the whole object; :meth:`ndarray` a numpy view of it (no copy). Close it (or use ``with``);
    :meth:`unlink` removes the name. Nothing is removed when the process exits: unlike
    ``multiprocessing.shared_memory``, this class never unlinks what it did not create.
    """

    def __init__(self, name: str, fd: int, created: bool) -> None:
        self.name = name
        self.created = created
        self._fd = fd
        size = os.fstat(fd).st_size
        self._map: mmap.mmap | None = mmap.mmap(fd, size) if size else None
        self._inode = os.fstat(fd).st_ino
        _libc.try_lock(fd, HELD_BYTE, False)

    @classmethod
    def create(cls, name: str, size: int, mode: int = 0o600) -> "Segment":
        """Makes object ``name`` of ``size`` bytes (zeros) with exactly ``mode``.

        :raises FileExistsError: if the name exists (open it, or remove it if it is stale).
        :raises ValueError: for a bad name, size or mode.
        """
        check_name(name)
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"Invalid size {size!r}: expected a whole number of bytes, 1 or more")
        # Made whole under a temporary name, then linked to its name (which fails if it exists):
        # an opener finds nothing, or the whole object.
        temporary = f"{name}.new.{os.urandom(8).hex()}"
        fd = _libc.shm_open(temporary.encode(), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        if fd < 0:
            raise _libc.oserror("shm_open", _libc.errno(), name, "Cannot create shared memory")
        try:
            os.fchmod(fd, mode)  # (not the umask's)
            os.ftruncate(fd, size)
            segment = cls(name, fd, True)
            try:
                os.link("/dev/shm" + temporary, "/dev/shm" + name)
            except BaseException:
                segment.close()
                raise
            return segment
        finally:
            _libc.shm_unlink(temporary.encode())

    @classmethod
    def open(cls, name: str) -> "Segment":
        """Opens existing object ``name``.

        :raises FileNotFoundError: if there is none.
        :raises PermissionError: if it is not yours to open.
        :raises ShmemaphoreError: ``DAMAGED`` if the name is not a regular file.
        """
        raw = check_name(name)
        fd = _libc.shm_open(raw, os.O_RDWR, 0)
        if fd < 0:
            raise _libc.oserror("shm_open", _libc.errno(), name, "Cannot open shared memory")
        if not _stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ShmemaphoreError("DAMAGED", f'"{name}" is not a shared memory object',
                                   object_name=name)
        return cls(name, fd, False)

    @property
    def fd(self) -> int:
        """Its file descriptor (for locks)."""
        self._check()
        return self._fd

    @property
    def size(self) -> int:
        """Its size now (``fstat``), which another process may have changed."""
        return os.fstat(self.fd).st_size

    @property
    def buf(self) -> memoryview:
        """The whole object, as mapped (see :meth:`refresh` after another process resized it)."""
        self._check()
        return memoryview(self._map) if self._map is not None else memoryview(b"")

    def refresh(self) -> memoryview:
        """Maps the object again if its size changed; returns :attr:`buf`."""
        size = self.size
        if self._map is None or len(self._map) != size:
            old, self._map = self._map, (mmap.mmap(self._fd, size) if size else None)
            if old is not None:
                try:
                    old.close()
                except BufferError:
                    pass  # a view of it is still out there: it goes with that view
        return self.buf

    def grow(self, size: int) -> memoryview:
        """Makes it at least ``size`` bytes (never smaller), and maps it again."""
        if size > self.size:
            os.ftruncate(self.fd, size)
        return self.refresh()

    def ndarray(self, dtype="uint8", shape=None, offset: int = 0):
        """A numpy array over the mapping (no copy): numpy is needed for this call only."""
        import numpy as np

        dt = np.dtype(dtype)
        count = -1 if shape is None else int(np.prod(shape))
        array = np.frombuffer(self._map, dtype=dt, count=count, offset=offset)
        return array if shape is None else array.reshape(shape)

    def linked(self) -> bool:
        """Whether its name still refers to this very object."""
        try:
            return os.stat("/dev/shm" + self.name).st_ino == self._inode
        except FileNotFoundError:
            return False

    def unlink(self) -> bool:
        """Removes its name if it still refers to this object; ``False`` if it did not."""
        if not self.linked():
            return False
        return _libc.shm_unlink(check_name(self.name)) == 0

    def close(self) -> None:
        """Unmaps and closes. Idempotent; does not unlink."""
        if self._fd < 0:
            return
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # a view (a numpy array) is still out there: the mapping goes with it
            self._map = None
        os.close(self._fd)
        self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def _check(self) -> None:
        if self._fd < 0:
            raise ValueError(f'Segment "{self.name}" is closed')

    def __enter__(self) -> "Segment":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Segment({self.name!r}, {'closed' if self.closed else f'{self.size} bytes'})"
