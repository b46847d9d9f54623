"""The channel (docs/channel.md, extension version 4): a :class:`Requester` asks, any number of
:class:`Responder` processes answer, over a header segment, a data segment and two semaphores.
Either side may be a Deno program of this project.

This module speaks the extension (sessions, sequences, claims, fences, liveness locks): its peers
are this project's, in either language. A plain-protocol peer (the C++ original) is not served.
"""

from __future__ import annotations

import os
import random
import struct
import time
from dataclasses import dataclass

from . import _libc
from .errors import ShmemaphoreError
from .segment import Segment
from .semaphore import NamedSemaphore

# The header (docs/channel.md §2).
LENGTH, META0, META1, META2 = 0, 8, 16, 24
EXT_MAGIC_AT, EXT_VERSION_AT, SESSION, REQUESTER_PID, STATE, DATA_ID = 32, 36, 40, 48, 52, 56
REQUEST_SEQ, REQUEST_KIND, CLAIM_PID, CLAIM_SEQ, CLAIM_TAG = 64, 72, 76, 80, 84
RESPONSE_SESSION, RESPONSE_SEQ, RESPONSE_MAGIC_AT, STATUS, ERROR_LENGTH = 88, 96, 104, 108, 112
RESPONSE_CHECK, ERROR_TEXT, ERROR_TEXT_MAX = 116, 120, 256
REQUEST_LENGTH, REQUEST_CHECK, EXT_SIZE, SEGMENT_SIZE = 376, 384, 392, 4096
EXT_MAGIC, EXT_VERSION, RESPONSE_MAGIC = 0x584D4853, 4, 0x524D4853
LIVE, FINISHED, RETIRED, CLOSED = 0, 1, 2, 3
KIND_REQUEST, KIND_FINISH = 0, 1
REQUESTER_LOCK_BYTE, RESPONDER_LOCK_BASE, PID_SPAN, RESPONDER_TAGS = 0, 2**32, 2**22, 2**18
INITIAL_DATA_SIZE = 64 * 1024
SLICE = 0.1  # seconds between looks at the other side's liveness while a side waits


def channel_names(channel: str) -> dict[str, str]:
    """The four objects of ``channel`` (``"/ibis"``): ``request_ready``, ``response_ready``,
    ``head``, ``data``."""
    if not isinstance(channel, str) or not channel.startswith("/") or len(channel) < 2:
        raise ValueError(f"Invalid channel {channel!r}: expected / then a name, like '/ibis'")
    if "\0" in channel or len(channel[1:].encode()) > 200:
        raise ValueError(f"Invalid channel {channel!r}: 1 to 200 bytes after the /, no NUL")
    c = channel[1:].replace("/", "_")
    return {
        "request_ready": f"/SEM_{c}_REQ",
        "response_ready": f"/SEM_{c}_RES",
        "head": f"/SEG_{c}_HEAD",
        "data": f"/SEG_{c}_DATA",
    }


def _fnv(h: int, value: int) -> int:
    v = value if value < 2**53 else 0
    h = ((h ^ (v & 0xFFFFFFFF)) * 0x01000193) & 0xFFFFFFFF
    return ((h ^ (v >> 32)) * 0x01000193) & 0xFFFFFFFF


def _check(*values: int) -> int:
    h = 0x811C9DC5
    for v in values:
        h = _fnv(h, v)
    return h


def _u32(buf, at: int) -> int:
    return struct.unpack_from("<I", buf, at)[0]


def _u64(buf, at: int) -> int:
    return struct.unpack_from("<Q", buf, at)[0]


def _set32(buf, at: int, value: int) -> None:
    struct.pack_into("<I", buf, at, value & 0xFFFFFFFF)


def _set64(buf, at: int, value: int) -> None:
    struct.pack_into("<Q", buf, at, value)


@dataclass(frozen=True)
class Answer:
    """What :meth:`Requester.request` returns: ``ok`` with ``data`` and ``meta`` (the three
    numbers), or not ``ok`` with the responder's ``error``."""

    ok: bool
    data: bytes = b""
    meta: tuple[int, int, int] = (0, 0, 0)
    error: str = ""


def _own_segment(name: str, size: int, mode: int) -> Segment:
    """A new segment for ``name``, made under a temporary name (it is renamed into place)."""
    return Segment.create(f"{name}.new.{os.urandom(8).hex()}", size, mode)


def _rename(segment: Segment, name: str, replace: bool) -> None:
    src, dst = "/dev/shm" + segment.name, "/dev/shm" + name
    if replace:
        try:
            if os.stat(dst).st_uid != os.getuid():
                raise ShmemaphoreError("FOREIGN_OBJECT", f'Refusing "{name}": another user\'s',
                                       object_name=name)
        except FileNotFoundError:
            pass
        os.rename(src, dst)
    else:
        os.link(src, dst)  # FileExistsError if it exists
        os.unlink(src)
    segment.name = name


class Requester:
    """The side that asks: one per channel. ``request()`` one at a time.

    >>> with Requester.create("/frames") as asker:      # doctest: +SKIP
    ...     answer = asker.request(b"hello", timeout=5)  # None if no answer in 5 s
    """

    def __init__(self, channel: str, mode: int = 0o600) -> None:
        raise TypeError("use Requester.create(channel)")

    @classmethod
    def create(cls, channel: str, mode: int = 0o600) -> "Requester":
        """Makes channel ``channel``; fails with ``FileExistsError`` if it exists."""
        names = channel_names(channel)
        self = object.__new__(cls)
        self.channel, self.names, self._state = channel, names, "ready"
        self._abandoned, self._seq, self.stray_tokens = False, 0, 0
        self.session = random.randrange(1, 2**53)
        made: list = []
        try:
            self._req = NamedSemaphore.open_or_create(names["request_ready"], 0, mode)
            made.append(self._req)
            self._res = NamedSemaphore.open_or_create(names["response_ready"], 0, mode)
            made.append(self._res)
            self._data = _own_segment(names["data"], INITIAL_DATA_SIZE, mode)
            made.append(self._data)
            self._head = _own_segment(names["head"], SEGMENT_SIZE, mode)
            made.append(self._head)
            if not _libc.try_lock(self._head.fd, REQUESTER_LOCK_BYTE, True):
                raise RuntimeError("cannot lock the new header")  # (nobody else can see it)
            h = self._head.buf
            _set32(h, EXT_VERSION_AT, EXT_VERSION)
            _set64(h, SESSION, self.session)
            _set32(h, REQUESTER_PID, os.getpid())
            _set32(h, STATE, LIVE)
            _set64(h, DATA_ID, os.fstat(self._data.fd).st_ino)
            _set32(h, EXT_MAGIC_AT, EXT_MAGIC)
            del h
            _rename(self._head, names["head"], replace=False)
            for sem in (self._req, self._res):
                while sem.try_wait():
                    pass  # a crashed run's tokens
            _rename(self._data, names["data"], replace=True)
        except BaseException:
            for obj in reversed(made):
                if isinstance(obj, Segment) or obj.created:
                    obj.unlink()
                obj.close()
            raise
        self._words = _libc.Words(self._head._map)
        return self

    def request(self, data: bytes | str, timeout: float | None = None,
                spin: float = 0.0) -> Answer | None:
        """Asks ``data`` (bytes, or text sent as UTF-8) and waits for the answer; ``None`` if
        ``timeout`` seconds ran out first (the request is then withdrawn, or its late answer
        goes to a data segment of its own).

        :raises ShmemaphoreError: ``PEER_GONE`` if the responder that took it died; ``PROTOCOL``
            if the answer does not add up; ``DAMAGED`` if the header was cut.
        :raises ValueError: for an empty request; once closed.
        """
        if self._state != "ready":
            raise ValueError(f'Requester of "{self.channel}" is {self._state}')
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if not payload:
            raise ValueError("Invalid request: it is empty")
        if self._abandoned:
            self._replace_data()
        buf = self._data.buf if len(payload) <= self._data.size else self._data.grow(len(payload))
        buf[: len(payload)] = payload
        del buf
        self._seq += 1
        seq, h = self._seq, self._head.buf
        for at in (LENGTH, META0, META1, META2):
            _set64(h, at, 0)
        _set64(h, LENGTH, len(payload))
        _set32(h, REQUEST_KIND, KIND_REQUEST)
        _set64(h, REQUEST_LENGTH, len(payload))
        _set32(h, REQUEST_CHECK, _check(self.session, seq, len(payload), KIND_REQUEST))
        _set32(h, RESPONSE_MAGIC_AT, 0)
        _set32(h, CLAIM_PID, 0)
        _set32(h, CLAIM_TAG, 0)
        _set64(h, REQUEST_SEQ, seq)
        del h
        self._req.post()
        deadline = None if timeout is None else time.monotonic() + timeout
        answered = False
        try:
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return None
                slice_ = SLICE if deadline is None else min(SLICE, deadline - now)
                woken = self._res.wait(slice_)
                self._check_header()
                answer = self._answer(seq)
                if answer is not None:
                    answered = True
                    return answer
                if woken:
                    self.stray_tokens += 1
                self._check_claimer(seq)
        finally:
            if not answered:
                # Withdrawn if nobody claimed it; else its answer may come late: next time, a new
                # data segment (docs/channel.md §4.4).
                low, seen = seq & 0xFFFFFFFF, self._words.load(CLAIM_SEQ)
                withdrawn = seen != low and self._words.cas(CLAIM_SEQ, seen, low)
                self._abandoned = not withdrawn

    def _answer(self, seq: int) -> Answer | None:
        h = self._head.buf
        if _u32(h, RESPONSE_MAGIC_AT) != RESPONSE_MAGIC:
            return None
        if _u64(h, RESPONSE_SESSION) != self.session or _u64(h, RESPONSE_SEQ) != seq:
            return None
        words = [_u64(h, at) for at in (LENGTH, META0, META1, META2)]
        status = _u32(h, STATUS)
        if _u32(h, RESPONSE_CHECK) != _check(*words, status, seq):
            return None  # words a late writer changed: not this answer
        length, m0, m1, m2 = words
        if status == 1:
            n = min(_u32(h, ERROR_LENGTH), ERROR_TEXT_MAX)
            text = bytes(h[ERROR_TEXT:ERROR_TEXT + n]).decode(errors="replace")
            return Answer(False, error=text or "the responder reported an error")
        if status != 0:
            raise ShmemaphoreError("PROTOCOL", f"Bad response: status = {status}: expected 0 or 1",
                                   object_name=self.names["head"])
        empty = words == [0, 0, 0, 0]
        if not empty and not (m0 >= 1 and m1 >= 1 and 1 <= m2 <= 4 and length == m0 * m1 * m2):
            raise ShmemaphoreError(
                "PROTOCOL", f"Bad response: length {length} is not {m0} x {m1} x {m2}",
                object_name=self.names["head"])
        data = self._data.refresh()
        if length > len(data):
            raise ShmemaphoreError(
                "PROTOCOL",
                f"Bad response: length = {length}: larger than the data segment ({len(data)})",
                object_name=self.names["head"])
        return Answer(True, bytes(data[:length]), (m0, m1, m2))

    def _check_header(self) -> None:
        size = self._head.size
        if size < EXT_SIZE:
            raise ShmemaphoreError("DAMAGED", f'"{self.names["head"]}" was truncated to {size} '
                                   "bytes", object_name=self.names["head"])

    def _check_claimer(self, seq: int) -> None:
        h = self._head.buf
        if _u32(h, CLAIM_SEQ) != seq & 0xFFFFFFFF:
            return
        pid, tag = _u32(h, CLAIM_PID), _u32(h, CLAIM_TAG)
        if pid == 0 or pid >= PID_SPAN or tag >= RESPONDER_TAGS:
            return
        byte = RESPONDER_LOCK_BASE + tag * PID_SPAN + pid
        if not _libc.exclusively_held(self._head.fd, byte):
            raise ShmemaphoreError("PEER_GONE", f"The responder (pid {pid}) exited while "
                                   f"answering request {seq}", peer_pid=pid,
                                   object_name=self.names["head"])

    def _replace_data(self) -> None:
        old = self._data
        data = _own_segment(self.names["data"], max(INITIAL_DATA_SIZE, min(old.size, 1 << 26)),
                            os.fstat(old.fd).st_mode & 0o777)
        _rename(data, self.names["data"], replace=True)
        _set64(self._head.buf, DATA_ID, os.fstat(data.fd).st_ino)
        old.close()
        self._data, self._abandoned = data, False

    @property
    def responder_pids(self) -> list[int]:
        """Not tracked on this side: see the Deno library's ``Requester.responderPids``."""
        raise NotImplementedError

    def finish(self) -> None:
        """Tells the responders that this requester is done (they leave); does not wait."""
        if self._state != "ready":
            return
        self._seq += 1
        h = self._head.buf
        for at in (LENGTH, META0, META1, META2):
            _set64(h, at, 0)
        _set32(h, REQUEST_KIND, KIND_FINISH)
        _set64(h, REQUEST_LENGTH, 0)
        _set32(h, REQUEST_CHECK, _check(self.session, self._seq, 0, KIND_FINISH))
        _set64(h, REQUEST_SEQ, self._seq)
        _set32(h, STATE, FINISHED)
        del h
        self._state = "finished"
        self._req.post()

    def close(self) -> None:
        """Closes and removes the channel's four objects (each only if it is still ours)."""
        if self._state == "closed":
            return
        if self._state != "finished":
            _set32(self._head.buf, STATE, CLOSED)
        self._state = "closed"
        self._words.release()
        for obj in (self._res, self._req, self._data, self._head):
            obj.unlink()
            obj.close()

    def __enter__(self) -> "Requester":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ActiveRequest:
    """A request lent to its responder until it is answered, once: :meth:`respond`, or
    :meth:`respond_error`. Leaving a ``with`` block unanswered answers with an error."""

    def __init__(self, responder: "Responder", seq: int, data: bytes) -> None:
        self._responder, self.sequence, self.data = responder, seq, data
        self.answered = False

    @property
    def text(self) -> str:
        """The request as UTF-8 text."""
        return self.data.decode()

    def respond(self, data: bytes, meta: tuple[int, int, int] | None = None) -> bool:
        """Answers with ``data`` and its three numbers (``(len, 1, 1)`` by default; ``(0, 0, 0)``
        for an empty answer); ``False`` if the requester no longer waits for it.

        :raises TypeError: if it was answered already.
        :raises ValueError: if ``len(data)`` is not ``meta[0] * meta[1] * meta[2]``.
        """
        self._once()
        payload = bytes(data)
        if meta is None:
            meta = (len(payload), 1, 1) if payload else (0, 0, 0)
        m0, m1, m2 = meta
        if payload or meta != (0, 0, 0):
            if not (m0 >= 1 and m1 >= 1 and 1 <= m2 <= 4 and len(payload) == m0 * m1 * m2):
                raise ValueError(f"Invalid meta {meta}: expected {len(payload)} = m0 x m1 x m2, "
                                 "m2 from 1 to 4")
        return self._responder._send(self.sequence, payload, (m0, m1, m2), None)

    def respond_error(self, message: str) -> bool:
        """Answers with an error (its UTF-8 cut to 256 bytes); ``False`` if nobody waits."""
        self._once()
        raw = message.encode()[:ERROR_TEXT_MAX]
        while raw:
            try:
                raw.decode()
                break
            except UnicodeDecodeError:
                raw = raw[:-1]
        return self._responder._send(self.sequence, b"", (0, 0, 0), raw)

    def _once(self) -> None:
        if self.answered:
            raise TypeError(f"Request {self.sequence} was answered already: answer once")
        self.answered = True

    def __enter__(self) -> "ActiveRequest":
        return self

    def __exit__(self, *exc) -> None:
        if not self.answered:
            self.respond_error("the responder did not answer this request")


class Responder:
    """A side that answers: joins the channel's requester, takes requests with :meth:`next`."""

    def __init__(self) -> None:
        raise TypeError("use Responder.open(channel)")

    @classmethod
    def open(cls, channel: str, timeout: float | None = None, mode: int = 0o600
             ) -> "Responder | None":
        """Joins channel ``channel``, waiting for its requester; ``None`` if ``timeout`` seconds
        ran out first."""
        names = channel_names(channel)
        self = object.__new__(cls)
        self.channel, self.names, self._mode = channel, names, mode
        self.stray_tokens = 0
        self._head = self._data = None
        self._req = NamedSemaphore.open_or_create(names["request_ready"], 0, mode)
        self._res = NamedSemaphore.open_or_create(names["response_ready"], 0, mode)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._join():
            if deadline is not None and time.monotonic() >= deadline:
                self.close()
                return None
            time.sleep(0.005)
        return self

    def _join(self) -> bool:
        try:
            head = Segment.open(self.names["head"])
        except FileNotFoundError:
            return False
        h = head.buf
        if (len(h) < EXT_SIZE or _u32(h, EXT_MAGIC_AT) != EXT_MAGIC
                or _u32(h, EXT_VERSION_AT) != EXT_VERSION or _u32(h, STATE) != LIVE
                or not _libc.exclusively_held(head.fd, REQUESTER_LOCK_BYTE)):
            del h
            head.close()
            return False
        session, data_id = _u64(h, SESSION), _u64(h, DATA_ID)
        del h
        try:
            data = Segment.open(self.names["data"])
        except FileNotFoundError:
            head.close()
            return False
        if os.fstat(data.fd).st_ino != data_id:
            data.close()
            head.close()
            return False
        pid = os.getpid() % PID_SPAN
        for _ in range(64):
            tag = random.randrange(1, RESPONDER_TAGS)
            if _libc.try_lock(head.fd, RESPONDER_LOCK_BASE + tag * PID_SPAN + pid, True):
                break
        else:
            raise ShmemaphoreError("BUSY", "no free responder lock byte", object_name=head.name)
        self._head, self._data, self.session, self._tag, self._pid = head, data, session, tag, pid
        self._data_id = data_id
        self._words = _libc.Words(head._map)
        return True

    @property
    def joined(self) -> bool:
        return self._head is not None

    def next(self, timeout: float | None = None) -> "ActiveRequest | str | None":
        """The next request (an :class:`ActiveRequest`), ``"finish"`` when the requester has
        finished, ``"requester-gone"`` when it died, closed or was replaced; ``None`` if
        ``timeout`` seconds ran out first."""
        if self._head is None and not self._join():
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            woken = self._req.wait(SLICE if deadline is None else min(SLICE, deadline - now))
            if len(self._head.refresh()) < EXT_SIZE:
                raise ShmemaphoreError("DAMAGED", f'"{self.names["head"]}" was truncated',
                                       object_name=self.names["head"])
            h = self._head.buf
            state = _u32(h, STATE)
            if state == FINISHED:
                self._leave()
                return "finish"
            if state != LIVE or not _libc.exclusively_held(self._head.fd, REQUESTER_LOCK_BYTE):
                if woken:
                    self._req.post()  # (for whoever holds the channel now)
                self._leave()
                return "requester-gone"
            if not woken:
                continue
            if _u64(h, DATA_ID) != self._data_id:
                self._follow_data(_u64(h, DATA_ID))
                if _u64(h, DATA_ID) != self._data_id:
                    continue
            taken = self._take(h)
            if taken is None:
                self.stray_tokens += 1
                continue
            return taken

    def _take(self, h) -> "ActiveRequest | str | None":
        if _u64(h, SESSION) != self.session:
            return None
        seq = _u64(h, REQUEST_SEQ)
        if seq == 0 or seq >= 2**53 or _u32(h, CLAIM_SEQ) == seq & 0xFFFFFFFF:
            return None
        kind, length = _u32(h, REQUEST_KIND), _u64(h, REQUEST_LENGTH)
        if _u32(h, REQUEST_CHECK) != _check(self.session, seq, length, kind):
            return None  # being written, or torn: never taken
        if kind == KIND_FINISH:
            self._leave()
            return "finish"
        data = self._data.refresh()
        claimed = self._words.cas(CLAIM_SEQ, _u32(h, CLAIM_SEQ), seq & 0xFFFFFFFF)
        if not claimed:
            return None
        self._words.store(CLAIM_TAG, self._tag)
        self._words.store(CLAIM_PID, self._pid)
        request = ActiveRequest(self, seq, b"")
        if kind != KIND_REQUEST or length > len(data):
            request.respond_error(f"Bad request: kind = {kind}, length = {length}")
            return None
        request.data = bytes(data[:length])
        return request

    def _current(self, seq: int) -> bool:
        if self._head is None:
            return False
        h = self._head.buf
        low = seq & 0xFFFFFFFF
        return (len(h) >= EXT_SIZE and _u32(h, REQUEST_SEQ) == low and _u32(h, CLAIM_SEQ) == low
                and _u32(h, STATE) == LIVE and _u64(h, DATA_ID) == self._data_id)

    def _send(self, seq: int, payload: bytes, meta, error: bytes | None) -> bool:
        if not self._current(seq):
            return False
        if payload:
            data = self._data.buf if len(payload) <= self._data.size else \
                self._data.grow(len(payload))
            data[: len(payload)] = payload
            del data
        if not self._current(seq):
            return False
        h = self._head.buf
        words = [len(payload), *meta]
        for at, w in zip((LENGTH, META0, META1, META2), words):
            _set64(h, at, w)
        status = 0 if error is None else 1
        _set32(h, STATUS, status)
        _set32(h, ERROR_LENGTH, 0 if error is None else len(error))
        if error:
            h[ERROR_TEXT:ERROR_TEXT + len(error)] = error
        _set64(h, RESPONSE_SESSION, self.session)
        _set64(h, RESPONSE_SEQ, seq)
        _set32(h, RESPONSE_CHECK, _check(*words, status, seq))
        _set32(h, RESPONSE_MAGIC_AT, RESPONSE_MAGIC)
        del h
        self._res.post()
        return True

    def _follow_data(self, data_id: int) -> None:
        try:
            data = Segment.open(self.names["data"])
        except FileNotFoundError:
            return
        if os.fstat(data.fd).st_ino != data_id:
            data.close()
            return
        self._data.close()
        self._data, self._data_id = data, data_id

    def _leave(self) -> None:
        if self._head is not None:
            self._words.release()
            self._head.close()
            self._data.close()
            self._head = self._data = None

    def close(self) -> None:
        """Leaves the requester and closes what it opened (the requester owns the objects)."""
        self._leave()
        for sem in (self._req, self._res):
            sem.close()

    def __enter__(self) -> "Responder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
