"""The ring (docs/ring.md, layout version 2): many :class:`RingWriter` processes, one
:class:`RingReader`, each writer on a lane of its own. Either end may be a Deno program of this
project; a Python writer and a Deno writer may share one ring.

Payloads are copied with ``memoryview`` slice assignment (``memcpy``), never byte by byte; the
positions, states and counts that the other side reads are stored and loaded with libatomic's
sequentially consistent atomics (see ``_libc.py``).
"""

from __future__ import annotations

import os
import struct
import time

from . import _libc
from .errors import ShmemaphoreError
from .segment import Segment, check_name
from .semaphore import NamedSemaphore

RING_MAGIC, RING_VERSION = 0x4E524853, 2
MAGIC, VERSION, LANES, SLOTS, SLOT_SIZE, READER_PID = 0, 4, 8, 12, 16, 20
STATE, READER_SLEEPING, WRITERS_SLEEPING, CLAIMS = 24, 28, 32, 36
LANE_TABLE, LANE_ENTRY, DATA_OFFSET, MAX_LANES = 256, 128, 4096, 30
L_STATE, L_WRITER_PID, L_GENERATION, L_PENDING, L_TAIL, L_HEAD, L_WAITING = 0, 4, 8, 12, 16, 64, 68
FREE, CLAIMED, CLOSED_LANE, ABORTED = 0, 1, 2, 3
RECORD_HEADER = 24
FIRST, LAST, PAD, RESTART, BATCH = 1, 2, 4, 8, 16
READER_LOCK_BYTE, WRITER_LOCK_BASE = 0, 1
SLICE = 0.1  # seconds between looks at the other side's liveness while blocked
_RECORD = struct.Struct("<IIIIQ")  # LENGTH, FLAGS, POSITION, GENERATION, TOTAL
_U32 = struct.Struct("<I")
_PADDING = (b"", b"\0", b"\0\0", b"\0\0\0")


def ring_names(name: str) -> tuple[str, str, str]:
    """The ring's segment and its two semaphores: ``/R``, ``/R.readable``, ``/R.writable``."""
    check_name(name)
    if len(name.encode()) > 241:
        raise ValueError(f"Invalid ring name {name!r}: at most 240 bytes after the /")
    return name, f"{name}.readable", f"{name}.writable"


def _lane(i: int, field: int) -> int:
    return LANE_TABLE + i * LANE_ENTRY + field


def _damaged(name: str, what: str) -> ShmemaphoreError:
    return ShmemaphoreError("DAMAGED", f'Ring "{name}": {what}', object_name=name)


class _Shape:
    def __init__(self, lanes: int, slots: int, slot_size: int) -> None:
        self.lanes, self.slots, self.slot_size = lanes, slots, slot_size
        self.lane_bytes = slots * slot_size

    def lane_at(self, i: int) -> int:
        return DATA_OFFSET + i * self.lane_bytes

    def slots_for(self, length: int) -> int:
        return -(-(RECORD_HEADER + length) // self.slot_size)

    def used(self, tail: int, head: int) -> int:
        return (tail - head) % (2 * self.slots)


class MessageBatch:
    """Messages packed as a BATCH record's payload (each a u32 length, its bytes, zero padding to
    a multiple of 4), for :meth:`RingWriter.write_many`: one record, one wake-up, many messages.
    """

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.buffer = bytearray(capacity)
        self.size = 0
        self.count = 0

    def add(self, message: bytes) -> bool:
        """Adds a copy of ``message``; ``False`` if it does not fit (the batch is unchanged)."""
        n = len(message)
        at = self.size
        end = at + 4 + n
        packed = end + (-n & 3)
        buffer = self.buffer
        if packed > len(buffer):
            return False
        _U32.pack_into(buffer, at, n)
        buffer[at + 4:end] = message
        if packed != end:
            buffer[end:packed] = _PADDING[packed - end]
        self.size = packed
        self.count += 1
        return True

    def clear(self) -> None:
        """Empties it."""
        self.size = 0
        self.count = 0


class RingWriter:
    """The writing end of a ring: one lane of it. ``write`` copies a message in."""

    def __init__(self) -> None:
        raise TypeError("use RingWriter.open(name)")

    @classmethod
    def open(cls, name: str) -> "RingWriter":
        """Opens ring ``name`` and claims a free lane of it.

        :raises ShmemaphoreError: ``PEER_GONE`` (no ring, or its reader is not running),
            ``NO_LANE``, ``CLOSED``, ``FOREIGN_OBJECT``, ``DAMAGED``.
        """
        seg_name, readable, writable = ring_names(name)
        try:
            seg = Segment.open(seg_name)
        except FileNotFoundError:
            raise ShmemaphoreError("PEER_GONE", f'There is no ring "{name}": is its reader '
                                   "running?", object_name=name) from None
        self = object.__new__(cls)
        self.name, self._seg, self._state = name, seg, "open"
        try:
            if os.fstat(seg.fd).st_uid != os.getuid():
                raise ShmemaphoreError("FOREIGN_OBJECT", f'Refusing "{name}": another user\'s',
                                       object_name=name)
            buf = seg.buf
            if len(buf) < DATA_OFFSET or struct.unpack_from("<II", buf, 0) != (RING_MAGIC,
                                                                             RING_VERSION):
                raise _damaged(name, "not a ring of layout version 2")
            lanes, slots, slot_size = struct.unpack_from("<III", buf, LANES)
            if not (1 <= lanes <= MAX_LANES and slots >= 2 and slot_size >= 64
                    and slot_size % 64 == 0
                    and len(buf) >= DATA_OFFSET + lanes * slots * slot_size):
                raise _damaged(name, "its shape does not fit its size")
            del buf
            self.shape = _Shape(lanes, slots, slot_size)
            if not _libc.exclusively_held(seg.fd, READER_LOCK_BYTE):
                raise ShmemaphoreError("PEER_GONE", f'The reader of ring "{name}" is no longer '
                                       "running", object_name=name)
            self._w = _libc.Words(seg._map)
            if self._w.load(STATE) != 0:
                raise ShmemaphoreError("CLOSED", f'Ring "{name}" was closed by its reader',
                                       object_name=name)
            self._readable = NamedSemaphore.open(readable)
            self._writable = NamedSemaphore.open(writable)
            self.lane = self._claim()
        except BaseException:
            if hasattr(self, "_w"):
                self._w.release()
            seg.close()
            raise
        return self

    def _claim(self) -> int:
        w, fd = self._w, self._seg.fd
        for i in range(self.shape.lanes):
            if not _libc.try_lock(fd, WRITER_LOCK_BASE + i, True):
                continue
            if w.load(_lane(i, L_STATE)) != FREE:
                _libc.unlock(fd, WRITER_LOCK_BASE + i)
                continue
            head = w.load(_lane(i, L_HEAD))
            if head >= 2 * self.shape.slots:
                raise _damaged(self.name, f"lane {i} has HEAD {head}")
            w.store(_lane(i, L_TAIL), head)
            w.store(_lane(i, L_WRITER_PID), os.getpid())
            w.store(_lane(i, L_PENDING), 0)
            self._gen = (w.load(_lane(i, L_GENERATION)) + 1) & 0xFFFFFFFF
            w.store(_lane(i, L_GENERATION), self._gen)
            w.store(_lane(i, L_STATE), CLAIMED)
            if w.add(CLAIMS, 1) == 0xFFFFFFFF:
                w.add(CLAIMS, 1)  # (0 means "no writer yet")
            self._tail, self._pos, self._cut = head, head, False
            return i
        raise ShmemaphoreError("NO_LANE", f'Ring "{self.name}" has a writer on each of its '
                               f"{self.shape.lanes} lanes", object_name=self.name)

    @property
    def max_record(self) -> int:
        """The largest payload of one record: a message up to this size is one record."""
        return self.shape.lane_bytes - RECORD_HEADER

    def write(self, message, timeout: float | None = None) -> bool:
        """Writes ``message`` (bytes-like: bytes, a memoryview, a numpy array), waiting for room;
        ``False`` if ``timeout`` seconds ran out first (a message cut short is dropped by the
        reader, and counted).

        :raises ShmemaphoreError: ``CLOSED``, ``PEER_GONE``, ``DAMAGED``.
        """
        self._ready()
        data = memoryview(message).cast("B")
        total = len(data)
        deadline = None if timeout is None else time.monotonic() + timeout
        if total <= self.max_record:
            return self._record(data, FIRST | LAST | (RESTART if self._cut else 0), total,
                                deadline)
        piece = (self.shape.slots // 2) * self.shape.slot_size - RECORD_HEADER
        at = 0
        while at < total:
            end = min(total, at + piece)
            flags = (FIRST | (RESTART if self._cut else 0) if at == 0 else 0) | \
                (LAST if end == total else 0)
            if not self._record(data[at:end], flags, total, deadline):
                if at > 0:
                    self._cut = True  # the next message's FIRST says RESTART
                    self._w.store(_lane(self.lane, L_PENDING), 1)
                return False
            at = end
        return True

    def write_many(self, batch: MessageBatch, timeout: float | None = None) -> int:
        """Writes the batch's messages as BATCH records (as many as fit in each); returns how many
        were written (all of them unless ``timeout`` ran out)."""
        self._ready()
        deadline = None if timeout is None else time.monotonic() + timeout
        view, at, done, limit = memoryview(batch.buffer), 0, 0, self.max_record
        while at < batch.size:
            end, n = at, 0
            while end < batch.size:
                length = struct.unpack_from("<I", batch.buffer, end)[0]
                nxt = end + 4 + length + (-length % 4)
                if nxt - at > limit:
                    break
                end, n = nxt, n + 1
            if n == 0:
                raise ValueError(f"Message {done} of the batch is larger than a record "
                                 f"({limit} bytes): write it with write()")
            if not self._record(view[at:end], FIRST | LAST | BATCH, end - at, deadline):
                return done
            at, done = end, done + n
        return done

    def _record(self, payload: memoryview, flags: int, total: int, deadline) -> bool:
        shape, w, lane = self.shape, self._w, self.lane
        need = shape.slots_for(len(payload))
        while True:
            slot = self._tail % shape.slots
            pad = shape.slots - slot if slot + need > shape.slots else 0
            free = self._free()
            if pad and free >= pad:
                # A PAD record to the lane's end, published on its own.
                self._publish(b"", PAD, 0, pad)
                continue
            if not pad and free >= need:
                self._publish(payload, flags, total, need)
                return True
            if not self._wait_room(pad or need, max(need, pad, shape.slots // 2), deadline):
                return False

    def _free(self) -> int:
        """Free slots in this writer's lane, from the HEAD the reader published (bounded: a HEAD
        that would mean more unread slots than the lane has, or one past 2 x SLOTS, is damage)."""
        shape = self.shape
        head = self._w.load(_lane(self.lane, L_HEAD))
        used = shape.used(self._tail, head)
        if head >= 2 * shape.slots or used > shape.slots:
            raise _damaged(self.name, f"lane {self.lane} has HEAD {head} for TAIL {self._tail}")
        return shape.slots - used

    def _publish(self, payload, flags: int, total: int, slots: int) -> None:
        shape, w, lane = self.shape, self._w, self.lane
        at = shape.lane_at(lane) + (self._tail % shape.slots) * shape.slot_size
        buf = self._seg._map
        buf[at + RECORD_HEADER:at + RECORD_HEADER + len(payload)] = payload
        _RECORD.pack_into(buf, at, len(payload), flags, self._pos & 0xFFFFFFFF, self._gen, total)
        self._tail = (self._tail + slots) % (2 * shape.slots)
        self._pos = (self._pos + slots) & 0xFFFFFFFF
        w.store(_lane(lane, L_TAIL), self._tail)
        if flags & (FIRST | PAD) == FIRST:
            self._cut = False
        self._wake_reader()

    def _wake_reader(self) -> None:
        w = self._w
        if w.load(READER_SLEEPING) == 1 and w.cas(READER_SLEEPING, 1, 0):
            self._readable.post()

    def _wait_room(self, enough: int, want: int, deadline) -> bool:
        """Waits until ``enough`` slots are free; asks the reader to wake it at ``want``."""
        shape, w, lane = self.shape, self._w, self.lane
        w.add(WRITERS_SLEEPING, 1)
        w.store(_lane(lane, L_WAITING), min(want, shape.slots))
        try:
            while True:
                if w.load(STATE) != 0:
                    raise ShmemaphoreError("CLOSED", f'Ring "{self.name}" was closed by its '
                                           "reader", object_name=self.name)
                if not _libc.exclusively_held(self._seg.fd, READER_LOCK_BYTE):
                    raise ShmemaphoreError("PEER_GONE", f'The reader of ring "{self.name}" '
                                           "died", object_name=self.name)
                if self._free() >= enough:
                    return True
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return False
                self._writable.wait(SLICE if deadline is None else min(SLICE, deadline - now))
        finally:
            w.store(_lane(lane, L_WAITING), 0)
            w.sub(WRITERS_SLEEPING, 1)

    def _ready(self) -> None:
        if self._state != "open":
            raise ValueError(f'Ring writer of "{self.name}" is {self._state}')

    def close(self) -> None:
        """Says this writer is done: the reader reads what it wrote, then frees its lane."""
        self._end(CLOSED_LANE)

    def abort(self) -> None:
        """Ends this writer's stream as cut short (the reader counts it as aborted)."""
        self._end(ABORTED)

    def _end(self, state: int) -> None:
        if self._state != "open":
            return
        self._state = "closed"
        w = self._w
        try:
            if self._cut:
                w.store(_lane(self.lane, L_PENDING), 1)
            w.store(_lane(self.lane, L_STATE), state)
            self._wake_reader()
        finally:
            w.release()
            _libc.unlock(self._seg.fd, WRITER_LOCK_BASE + self.lane)
            self._seg.close()
            self._readable.close()
            self._writable.close()

    def __enter__(self) -> "RingWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.abort() if exc_type is not None else self.close()


class RingReader:
    """The reading end of a ring, which makes it: ``read()`` the next message of any writer."""

    def __init__(self) -> None:
        raise TypeError("use RingReader.create(name)")

    @classmethod
    def create(cls, name: str, *, max_writers: int = 4, slots: int = 64,
               slot_size: int = 64 * 1024, mode: int = 0o600) -> "RingReader":
        """Makes ring ``name``: ``max_writers`` lanes of ``slots`` slots of ``slot_size`` bytes.

        :raises FileExistsError: if the name exists.
        :raises ValueError: for a bad shape.
        """
        seg_name, readable, writable = ring_names(name)
        if not (1 <= max_writers <= MAX_LANES and slots >= 2 and slot_size >= 64
                and slot_size % 64 == 0 and slots * slot_size < 2**31):
            raise ValueError(f"Invalid shape: max_writers 1 to {MAX_LANES}, slots 2 or more, "
                             "slot_size a multiple of 64")
        self = object.__new__(cls)
        self.name, self.shape = name, _Shape(max_writers, slots, slot_size)
        made: list = []
        try:
            for sem_name in (readable, writable):
                sem = NamedSemaphore.open_or_create(sem_name, 0, mode)
                made.append(sem)
                while sem.try_wait():
                    pass
            self._readable, self._writable = made
            temp = f"{seg_name}.new.{os.urandom(8).hex()}"
            seg = Segment.create(temp, DATA_OFFSET + max_writers * slots * slot_size, mode)
            made.append(seg)
            if not _libc.try_lock(seg.fd, READER_LOCK_BYTE, True):
                raise RuntimeError("cannot lock the new ring")  # (nobody else can see it)
            struct.pack_into("<IIIII", seg._map, VERSION, RING_VERSION, max_writers, slots,
                             slot_size, os.getpid())
            struct.pack_into("<I", seg._map, MAGIC, RING_MAGIC)
            os.link("/dev/shm" + temp, "/dev/shm" + seg_name)  # FileExistsError if it exists
            os.unlink("/dev/shm" + temp)
            seg.name = seg_name
        except BaseException:
            for obj in reversed(made):
                if isinstance(obj, Segment) or obj.created:
                    obj.unlink()
                obj.close()
            raise
        self._seg, self._w, self._state = seg, _libc.Words(seg._map), "open"
        n = max_writers
        self._active = [False] * n
        self._head = [0] * n
        self._pos = [0] * n
        self._gen = [0] * n
        self._parts: list[list | None] = [None] * n
        self._dead: set[int] = set()
        self._claims_seen, self._joined, self._next = 0, False, 0
        self._queue: list[bytes] = []
        self.dropped = self.died_writers = self.aborted_writers = 0
        return self

    def read(self, timeout: float | None = None) -> bytes | None:
        """The next message, waiting for one; ``None`` if ``timeout`` seconds ran out first.

        :raises ShmemaphoreError: ``ENDED`` once every writer has left and all was read (a
            writer that joins later starts the next stream); ``DAMAGED``.
        """
        if self._state != "open":
            raise ValueError(f'Ring "{self.name}" is closed')
        deadline = None if timeout is None else time.monotonic() + timeout
        w = self._w
        while True:
            message = self._next_message()
            if message is not None:
                return message
            self._free_drained()
            if self._ended():
                raise ShmemaphoreError("ENDED", f'The stream of ring "{self.name}" has ended: '
                                       "every writer has left", object_name=self.name)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            w.store(READER_SLEEPING, 1)
            message = self._next_message()
            if message is not None:
                w.store(READER_SLEEPING, 0)
                return message
            self._readable.wait(SLICE if deadline is None else min(SLICE, deadline - now))
            w.store(READER_SLEEPING, 0)
            self._check_writers()

    def __iter__(self):
        """The messages until the stream ends."""
        while True:
            try:
                yield self.read()
            except ShmemaphoreError as e:
                if e.code == "ENDED":
                    return
                raise

    def _activate_claims(self) -> None:
        claims = self._w.load(CLAIMS)
        if claims == self._claims_seen:
            return
        self._claims_seen = claims
        for i in range(self.shape.lanes):
            if not self._active[i]:
                self._activate(i)

    def _activate(self, i: int) -> None:
        w = self._w
        if w.load(_lane(i, L_STATE)) == FREE:
            return
        self._active[i], self._joined = True, True
        self._gen[i] = w.load(_lane(i, L_GENERATION))
        self._pos[i] = self._head[i]
        self._parts[i] = None

    def _next_message(self) -> bytes | None:
        if self._queue:
            return self._queue.pop(0)
        self._activate_claims()
        lanes = self.shape.lanes
        for k in range(lanes):
            i = (self._next + k) % lanes
            if not self._active[i]:
                continue
            message = self._read_lane(i)
            if message is not None:
                self._next = (i + 1) % lanes
                return message
        return None

    def _read_lane(self, i: int) -> bytes | None:
        shape, w, buf = self.shape, self._w, self._seg._map
        while True:
            tail = w.load(_lane(i, L_TAIL))
            head = self._head[i]
            if tail >= 2 * shape.slots:
                raise _damaged(self.name, f"lane {i} has TAIL {tail}")
            avail = shape.used(tail, head)
            if avail == 0:
                return None
            if avail > shape.slots:
                raise _damaged(self.name, f"lane {i} has TAIL {tail} for HEAD {head}: more than "
                               "the lane holds")
            slot = head % shape.slots
            at = shape.lane_at(i) + slot * shape.slot_size
            length, flags, position, generation, total = _RECORD.unpack_from(buf, at)
            if position != self._pos[i] or generation != self._gen[i]:
                raise _damaged(self.name, f"lane {i}: a record of position {position}, "
                               f"generation {generation}; expected {self._pos[i]}, "
                               f"{self._gen[i]}")
            if flags & ~(FIRST | LAST | PAD | RESTART | BATCH):
                raise _damaged(self.name, f"lane {i}: flags {flags}")
            slots = (shape.slots - slot) if flags & PAD else shape.slots_for(length)
            if (flags & PAD and (flags != PAD or length != 0)) or slots > avail \
                    or slot + slots > shape.slots:
                raise _damaged(self.name, f"lane {i}: a record that cannot be (length {length}, "
                               f"flags {flags})")
            payload = bytes(buf[at + RECORD_HEADER:at + RECORD_HEADER + length])
            message = None if flags & PAD else self._take(i, flags, total, payload)
            self._head[i] = (head + slots) % (2 * shape.slots)
            self._pos[i] = (self._pos[i] + slots) & 0xFFFFFFFF
            w.store(_lane(i, L_HEAD), self._head[i])
            self._wake_writer(i)
            if message is not None:
                return message

    def _take(self, i: int, flags: int, total: int, payload: bytes) -> bytes | None:
        name = self.name
        if not (flags & FIRST and flags & LAST) and total < len(payload):
            raise _damaged(name, f"lane {i}: TOTAL {total} on a piece of {len(payload)} bytes")
        if flags & RESTART and not flags & FIRST:
            raise _damaged(name, f"lane {i}: RESTART without FIRST")
        if flags & FIRST:
            if self._parts[i] is not None:
                if not flags & RESTART:
                    raise _damaged(name, f"lane {i}: a FIRST record inside a message")
                self.dropped += 1
                self._parts[i] = None
            elif flags & RESTART:
                self.dropped += 1
            if flags & BATCH:
                if not flags & LAST:
                    raise _damaged(name, f"lane {i}: a BATCH record that is not whole")
                self._queue.extend(self._unpack(i, payload))
                return self._queue.pop(0) if self._queue else None
            if flags & LAST:
                if total != len(payload):
                    raise _damaged(name, f"lane {i}: TOTAL {total} for {len(payload)} bytes")
                return payload
            if total <= len(payload) or total >= 2**40:
                raise _damaged(name, f"lane {i}: TOTAL {total} on a FIRST record")
            self._parts[i] = [total, [payload], len(payload)]
            return None
        if flags & BATCH:
            raise _damaged(name, f"lane {i}: BATCH on a piece")
        parts = self._parts[i]
        if parts is None:
            raise _damaged(name, f"lane {i}: a piece of no message")
        parts[1].append(payload)
        parts[2] += len(payload)
        if parts[2] > parts[0] or (flags & LAST and parts[2] != parts[0]):
            raise _damaged(name, f"lane {i}: pieces that do not add up to TOTAL {parts[0]}")
        if flags & LAST:
            self._parts[i] = None
            return b"".join(parts[1])
        return None

    def _unpack(self, i: int, payload: bytes) -> list[bytes]:
        out, at, n = [], 0, len(payload)
        while at < n:
            if at + 4 > n:
                raise _damaged(self.name, f"lane {i}: a BATCH record whose lengths do not add up")
            length = struct.unpack_from("<I", payload, at)[0]
            end = at + 4 + length
            if end > n:
                raise _damaged(self.name, f"lane {i}: a BATCH record whose lengths do not add up")
            out.append(payload[at + 4:end])
            at = end + (-length % 4)
        if at != n:
            raise _damaged(self.name, f"lane {i}: a BATCH record whose lengths do not add up")
        return out

    def _wake_writer(self, i: int) -> None:
        w = self._w
        want = w.load(_lane(i, L_WAITING))
        if not want:
            return
        free = self.shape.slots - self.shape.used(w.load(_lane(i, L_TAIL)), self._head[i])
        if free >= min(want, self.shape.slots) and w.cas(_lane(i, L_WAITING), want, 0):
            for _ in range(max(1, min(w.load(WRITERS_SLEEPING), self.shape.lanes))):
                self._writable.post()

    def _check_writers(self) -> None:
        w, fd = self._w, self._seg.fd
        for i in range(self.shape.lanes):
            state = w.load(_lane(i, L_STATE))
            if state > ABORTED:
                raise _damaged(self.name, f"lane {i} has STATE {state}")
            if state == FREE or i in self._dead:
                continue
            if not self._active[i]:
                self._activate(i)
            if state == CLAIMED and not _libc.exclusively_held(fd, WRITER_LOCK_BASE + i):
                self._dead.add(i)

    def _free_drained(self) -> None:
        w = self._w
        for i in range(self.shape.lanes):
            if not self._active[i]:
                continue
            state = w.load(_lane(i, L_STATE))
            if state == CLAIMED and i not in self._dead:
                continue
            if w.load(_lane(i, L_TAIL)) != self._head[i]:
                continue
            if self._parts[i] is not None or w.load(_lane(i, L_PENDING)):
                self.dropped += 1
            if i in self._dead:
                self.died_writers += 1
            elif state == ABORTED:
                self.aborted_writers += 1
            self._parts[i] = None
            self._active[i] = False
            self._dead.discard(i)
            w.store(_lane(i, L_PENDING), 0)
            w.store(_lane(i, L_STATE), FREE)

    def _ended(self) -> bool:
        if not self._joined and self._w.load(CLAIMS) == 0:
            return False
        return not any(self._active) and all(
            self._w.load(_lane(i, L_STATE)) == FREE for i in range(self.shape.lanes))

    def close(self) -> None:
        """Closes the ring: writers get ``CLOSED``; the three names are removed."""
        if self._state != "open":
            return
        self._state = "closed"
        w = self._w
        w.store(STATE, 1)
        for _ in range(max(1, min(w.load(WRITERS_SLEEPING), self.shape.lanes))):
            self._writable.post()
        w.release()
        for obj in (self._seg, self._readable, self._writable):
            obj.unlink()
            obj.close()

    def __enter__(self) -> "RingReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
