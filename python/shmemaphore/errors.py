"""One error family, with the same flat codes as the Deno library (see its README)."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "BUSY",
    "IN_FLIGHT",
    "FOREIGN_OBJECT",
    "DAMAGED",
    "PROTOCOL",
    "PEER_GONE",
    "ENDED",
    "ABORTED",
    "CLOSED",
    "NO_LANE",
]


class ShmemaphoreError(Exception):
    """What went wrong, as a code (``err.code``) and a message that says what to do.

    Misuse is a ``TypeError`` or ``ValueError``, a system call's failure an ``OSError`` (its
    ``errno`` and its name in the message), a closed object ``ValueError("... is closed")``.
    """

    def __init__(self, code: ErrorCode, message: str, *, object_name: str | None = None,
                 peer_pid: int | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.object_name = object_name
        self.peer_pid = peer_pid

    def __repr__(self) -> str:
        return f"ShmemaphoreError({self.code!r}, {str(self)!r})"
