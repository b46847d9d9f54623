"""A Python peer for the pairing tests (tests/python_test.ts), run as its own process:

    python3 peer.py respond CHANNEL                 answers each request with its bytes reversed
    python3 peer.py request CHANNEL COUNT           asks COUNT times, checks every answer
    python3 peer.py write RING ID COUNT SIZES [GO]  as tests/_ring_peer.ts's writer
    python3 peer.py read RING SLOTS SLOT_SIZE N [GO]  as tests/_ring_peer.ts's reader (reads
                                                      once file GO exists, if given)
    python3 peer.py poke NAME OFFSET VALUE          a hostile process: a u32 into segment NAME
    python3 peer.py batch RING ID COUNT SIZE        COUNT messages of SIZE bytes, by batches
    python3 peer.py rate RING SECONDS               64-byte messages by batches; prints the rate
    python3 peer.py frames RING COUNT SIZE          COUNT frames of SIZE bytes; prints the time

Messages are tests/_ring_peer.ts's: id, k and size (u32 each), then byte i = (i*31 + id*7 + k*13)
mod 256, so that either language checks the other's.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from shmemaphore import (  # noqa: E402
    MessageBatch,
    Requester,
    Responder,
    RingReader,
    RingWriter,
    Segment,
    ShmemaphoreError,
)

_BASE = bytes((i * 31) & 0xFF for i in range(1 << 16))
_SHIFT = [bytes((b + s) & 0xFF for b in range(256)) for s in range(256)]


def message(id_: int, k: int, size: int) -> bytes:
    """Message ``k`` of writer ``id_``, ``size`` bytes (at least 12); no per-byte Python loop."""
    body = (_BASE * (size // len(_BASE) + 1))[12:size].translate(_SHIFT[(id_ * 7 + k * 13) & 0xFF])
    return struct.pack("<III", id_, k, size) + body


def check(data: bytes):
    """``(id, k)``, or why ``data`` is not one of :func:`message`'s."""
    if len(data) < 12:
        return f"a message of {len(data)} bytes"
    id_, k, size = struct.unpack_from("<III", data)
    if size != len(data):
        return f"writer {id_} message {k}: {len(data)} bytes, not {size}"
    if data != message(id_, k, size):
        return f"writer {id_} message {k}: its bytes are wrong"
    return id_, k


def main(mode: str, name: str, *rest: str) -> None:
    if mode == "respond":
        responder = Responder.open(f"/{name}", timeout=20)
        print("joined", flush=True)
        answered = 0
        while True:
            request = responder.next(timeout=20)
            if request is None or request == "finish":
                break
            if request == "requester-gone":
                continue
            with request:
                if request.data == b"empty":
                    request.respond(b"")
                elif request.data == b"fail":
                    request.respond_error("no such thing")
                else:
                    request.respond(request.data[::-1])
                answered += 1
        responder.close()
        print(f"answered {answered}", flush=True)
    elif mode == "request":
        count = int(rest[0])
        with Requester.create(f"/{name}") as asker:
            print("asking", flush=True)
            ok = wrong = 0
            for i in range(count):
                text = f"q{i}-" + "x" * (i % 7)
                answer = asker.request(text, timeout=20)
                if answer is not None and answer.ok and answer.data == text.encode()[::-1]:
                    ok += 1
                else:
                    wrong += 1
            empty = asker.request("empty", timeout=20)
            failed = asker.request("fail", timeout=20)
            asker.finish()
            print(json.dumps({"ok": ok, "wrong": wrong, "empty": empty.ok and empty.data == b"",
                              "error": failed.error}), flush=True)
    elif mode == "write":
        id_, count = int(rest[0]), int(rest[1])
        sizes = [int(s) for s in rest[2].split(",")]
        deadline = time.monotonic() + 20
        while True:
            try:
                writer = RingWriter.open(name)
                break
            except ShmemaphoreError as e:
                if e.code != "PEER_GONE" or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        print("writing", flush=True)
        if len(rest) > 3:  # it writes once the test's file GO exists
            while not os.path.exists(rest[3]):
                if time.monotonic() > deadline:
                    raise SystemExit("no go in 20 s")
                time.sleep(0.005)
        with writer:
            for k in range(count):
                if not writer.write(message(id_, k, sizes[k % len(sizes)]), timeout=20):
                    raise SystemExit(f"writer {id_}: message {k} timed out")
        print("done", flush=True)
    elif mode == "batch":
        id_, count, size = int(rest[0]), int(rest[1]), int(rest[2])
        with RingWriter.open(name) as writer:
            batch, k = MessageBatch(256 * 1024), 0
            while k < count:
                batch.clear()
                while k < count and batch.add(message(id_, k, size)):
                    k += 1
                writer.write_many(batch, timeout=20)
        print("done", flush=True)
    elif mode == "rate":
        seconds = float(rest[0])
        payload = bytes(64)
        batch = MessageBatch(1 << 20)
        while batch.add(payload):
            pass
        with RingWriter.open(name) as writer:
            sent, start = 0, time.monotonic()
            while time.monotonic() - start < seconds:
                sent += writer.write_many(batch)
            elapsed = time.monotonic() - start
        print(json.dumps({"messages": sent, "seconds": elapsed}), flush=True)
    elif mode == "frames":
        count, size = int(rest[0]), int(rest[1])
        frame = bytearray(size)
        with RingWriter.open(name) as writer:
            start = time.monotonic()
            for k in range(count):
                struct.pack_into("<I", frame, 0, k)
                writer.write(frame)
            elapsed = time.monotonic() - start
        print(json.dumps({"frames": count, "seconds": elapsed}), flush=True)
    elif mode == "bench":  # bench/_stream.ts: BYTES COUNT MODE (batch or copy), as fast as it can
        size, count, how = int(rest[0]), int(rest[1]), rest[2]
        with RingWriter.open(name) as writer:
            if how == "batch":
                batch, k, one = MessageBatch(1 << 20), 0, bytes(size)
                while k < count:
                    batch.clear()
                    while k < count and batch.add(one):
                        k += 1
                    writer.write_many(batch)
            else:
                frame = bytearray(size)
                for _ in range(count):
                    writer.write(frame)
    elif mode == "read":
        slots, slot_size, writers = (int(x) for x in rest[:3])
        with RingReader.create(name, max_writers=writers, slots=slots,
                               slot_size=slot_size) as ring:
            print("ready", flush=True)
            while len(rest) > 3 and not os.path.exists(rest[3]):
                time.sleep(0.005)
            nxt: dict[int, int] = {}
            errors: list[str] = []
            for data in ring:
                got = check(data)
                if isinstance(got, str):
                    errors.append(got)
                    continue
                id_, k = got
                if nxt.get(id_, 0) != k:
                    errors.append(f"writer {id_}: message {k} after {nxt.get(id_)}")
                nxt[id_] = k + 1
            print(json.dumps({"got": {str(i): n for i, n in nxt.items()}, "dropped": ring.dropped,
                              "died": ring.died_writers, "errors": errors}), flush=True)
    elif mode == "poke":
        with Segment.open(name) as seg:
            struct.pack_into("<I", seg.buf, int(rest[0]), int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
