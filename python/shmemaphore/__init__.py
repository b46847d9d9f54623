"""shmemaphore for Python: POSIX shared memory, named semaphores, and the wire formats of the
Deno library of the same name (its channel and its ring), so that a Python program takes either
side against a Deno one. The standard library and ctypes; numpy optional (``Segment.ndarray``).
See README.md beside this package."""

from .channel import ActiveRequest, Answer, Requester, Responder, channel_names
from .errors import ShmemaphoreError
from .ring import MessageBatch, RingReader, RingWriter
from .segment import Segment
from .semaphore import NamedSemaphore

__all__ = [
    "ActiveRequest",
    "Answer",
    "MessageBatch",
    "NamedSemaphore",
    "Requester",
    "Responder",
    "RingReader",
    "RingWriter",
    "Segment",
    "ShmemaphoreError",
    "channel_names",
]
__version__ = "0.1.0"
