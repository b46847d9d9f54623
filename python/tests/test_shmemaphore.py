"""The Python package on its own: objects, locks, the ring and the channel between Python
processes, and what it refuses. Its pairings with the Deno library are tests/python_test.ts."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, ".."))

from shmemaphore import (  # noqa: E402
    MessageBatch,
    NamedSemaphore,
    Requester,
    Responder,
    RingReader,
    RingWriter,
    Segment,
    ShmemaphoreError,
)
from shmemaphore import _libc  # noqa: E402
from shmemaphore.segment import HELD_BYTE  # noqa: E402

PEER = os.path.join(HERE, "peer.py")


@pytest.fixture()
def name():
    """A fresh name; the test must leave nothing under it in /dev/shm."""
    n = f"/pyt_{uuid.uuid4().hex[:12]}"
    yield n
    left = [f for f in os.listdir("/dev/shm") if n[1:] in f]
    for f in left:
        os.unlink("/dev/shm/" + f)
    assert left == [], "left in /dev/shm"


def run(*code_lines: str) -> subprocess.CompletedProcess:
    """Runs Python code in a second process (the package importable)."""
    code = "import sys; sys.path.insert(0, %r)\n" % os.path.join(HERE, "..") + "\n".join(code_lines)
    return subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True,
                          timeout=60)


def test_segment_bytes_cross_processes_and_exit_removes_nothing(name):
    with Segment.create(name, 4096) as seg:
        seg.buf[:5] = b"hello"
        out = run("from shmemaphore import Segment",
                  f"s = Segment.open({name!r}); print(bytes(s.buf[:5]).decode()); s.buf[5] = 33")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "hello"
        assert seg.buf[5] == 33
        assert seg.linked(), "a process that opened it and exited removed nothing"
        assert seg.unlink() is True
        assert seg.unlink() is False


def test_create_refuses_an_existing_name_and_open_a_missing_one(name):
    with Segment.create(name, 64) as seg:
        with pytest.raises(FileExistsError):
            Segment.create(name, 64)
        seg.unlink()
    with pytest.raises(FileNotFoundError):
        Segment.open(name)
    for bad in ("noslash", "/a/b", "/"):
        with pytest.raises(ValueError):
            Segment.create(bad, 64)
    with pytest.raises(ValueError):
        Segment.create(name, 0)


def test_a_holder_holds_the_shared_lock_the_deno_side_asks_for(name):
    with Segment.create(name, 64) as seg:
        holder = subprocess.Popen(
            [sys.executable, "-B", "-c",
             "import sys, time; sys.path.insert(0, %r)\n" % os.path.join(HERE, "..")
             + f"from shmemaphore import Segment\ns = Segment.open({name!r})\nprint('held', "
             "flush=True)\nsys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        assert _libc.held_at_all(seg.fd, HELD_BYTE)
        holder.stdin.close()
        holder.wait(timeout=20)
        assert not _libc.held_at_all(seg.fd, HELD_BYTE), "the kernel dropped it with the process"
        seg.unlink()


def test_ndarray_is_a_view_of_the_segment(name):
    import numpy as np  # (a test dependency: .ci/run installs it)

    with Segment.create(name, 4 * 6) as seg:
        a = seg.ndarray("float32", (2, 3))
        a[1, 2] = 1.5
        assert struct.unpack_from("<f", seg.buf, 20)[0] == 1.5
        assert isinstance(a, np.ndarray)
        del a
        seg.unlink()


def test_semaphore_post_wait_timeout(name):
    with NamedSemaphore.create(name, 0) as sem:
        start = time.monotonic()
        assert sem.wait(0.05) is False
        assert time.monotonic() - start >= 0.04
        out = run("from shmemaphore import NamedSemaphore",
                  f"NamedSemaphore.open({name!r}).post()")
        assert out.returncode == 0, out.stderr
        assert sem.wait(10) is True
        assert sem.try_wait() is False
        sem.post()
        assert sem.value == 1
        assert sem.unlink() is True
    with pytest.raises(FileNotFoundError):
        NamedSemaphore.open(name)


def test_ring_every_kind_of_record_between_processes(name):
    with RingReader.create(name, max_writers=2, slots=8, slot_size=256) as ring:
        # Both claim their lanes before either writes (the stream ends when every writer that
        # joined has left): each waits for file GO once it says "writing".
        go = os.path.join(tempfile.gettempdir(), f"shmemaphore_go_{uuid.uuid4().hex}")
        writers = [subprocess.Popen([sys.executable, "-B", PEER, "write", name, str(w), "100",
                                     "12,100,233,900,2000,5000", go], stdout=subprocess.PIPE,
                                    text=True) for w in (1, 2)]
        for p in writers:
            assert p.stdout.readline().strip() == "writing"
        open(go, "w").close()
        seen: dict[int, int] = {}
        sys.path.insert(0, HERE)
        from peer import check  # (the same messages the Deno peers write)

        for data in ring:
            got = check(data)
            assert not isinstance(got, str), got
            w, k = got
            assert seen.get(w, 0) == k
            seen[w] = k + 1
        assert seen == {1: 100, 2: 100}
        assert ring.dropped == 0 and ring.died_writers == 0
        for p in writers:
            assert p.wait(timeout=20) == 0
        os.unlink(go)


def test_ring_batch_and_the_end_of_the_stream(name):
    with RingReader.create(name, max_writers=1, slots=8, slot_size=256) as ring:
        with RingWriter.open(name) as w:
            batch = MessageBatch(1500)
            for i in range(10):
                assert batch.add(bytes([i]) * i)
            assert w.write_many(batch) == 10
        assert [ring.read(1) for _ in range(10)] == [bytes([i]) * i for i in range(10)]
        with pytest.raises(ShmemaphoreError) as e:
            ring.read(1)
        assert e.value.code == "ENDED"


def test_a_hostile_position_is_damaged_never_a_message(name):
    with RingReader.create(name, max_writers=1, slots=8, slot_size=256) as ring:
        with RingWriter.open(name) as w:
            assert w.write(b"first")
            with Segment.open(name) as seg:  # a process of the same user rewrites POSITION
                struct.pack_into("<I", seg.buf, 4096 + 8, 77)
            with pytest.raises(ShmemaphoreError) as e:
                ring.read(1)
            assert e.value.code == "DAMAGED"


def test_a_writer_without_a_reader_is_peer_gone_and_no_lane_is_said(name):
    with pytest.raises(ShmemaphoreError) as e:
        RingWriter.open(name)
    assert e.value.code == "PEER_GONE"
    with RingReader.create(name, max_writers=1, slots=2, slot_size=64):
        with RingWriter.open(name):
            with pytest.raises(ShmemaphoreError) as e:
                RingWriter.open(name)
            assert e.value.code == "NO_LANE"


def test_channel_between_two_python_processes(name):
    channel = name
    responder = subprocess.Popen([sys.executable, "-B", PEER, "respond", channel[1:]],
                                 stdout=subprocess.PIPE, text=True)
    try:
        with Requester.create(channel) as asker:
            for i in range(20):
                answer = asker.request(f"n{i}", timeout=20)
                assert answer is not None and answer.ok and answer.data == f"n{i}".encode()[::-1]
            assert asker.request("empty", timeout=20).data == b""
            assert asker.request("fail", timeout=20).error == "no such thing"
            asker.finish()
        assert responder.wait(timeout=20) == 0
        assert "answered 22" in responder.stdout.read()
    finally:
        responder.kill()


def test_a_request_given_up_on_is_withdrawn_and_answers_once_only(name):
    with Requester.create(name) as asker:
        assert asker.request("nobody", timeout=0.05) is None
        r = Responder.open(name, timeout=5)
        assert r is not None
        assert r.next(timeout=0.3) is None, "the withdrawn request is not taken"
        r.close()
        asker.finish()
    with Requester.create(name) as asker:
        out = subprocess.Popen([sys.executable, "-B", PEER, "respond", name[1:]],
                               stdout=subprocess.PIPE, text=True)
        answer = asker.request("x", timeout=20)
        assert answer.ok and answer.data == b"x"
        asker.finish()
        assert out.wait(timeout=20) == 0


def test_a_writer_refuses_a_hostile_head_instead_of_writing_over_unread_records(name):
    with RingReader.create(name, max_writers=1, slots=8, slot_size=256):
        with RingWriter.open(name) as w:
            assert w.write(b"x" * 200)
            with Segment.open(name) as seg:  # HEAD of lane 0: past 2 x SLOTS, then "ahead of TAIL"
                for head in (2**32 - 1, 16, 5):
                    struct.pack_into("<I", seg.buf, 256 + 64, head)
                    with pytest.raises(ShmemaphoreError) as e:
                        w.write(b"y", timeout=1)
                    assert e.value.code == "DAMAGED"


def test_a_reader_refuses_a_tail_past_what_the_lane_holds(name):
    with RingReader.create(name, max_writers=1, slots=8, slot_size=256) as ring:
        with RingWriter.open(name):
            with Segment.open(name) as seg:  # TAIL of lane 0: 12 slots ahead of HEAD 0, of 8
                struct.pack_into("<I", seg.buf, 256 + 16, 12)
            with pytest.raises(ShmemaphoreError) as e:
                ring.read(1)
            assert e.value.code == "DAMAGED"
