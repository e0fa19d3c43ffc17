"""Reading an audit export file from its end: the manifest is its last line, found in constant memory.

Shared by ``audit verify`` (``cli/audit.py``) and the proof and witness commands (``cli/audit_proofs.py``).
"""

from __future__ import annotations

import os
from typing import IO

MAX_LINE = 16 * 1024 * 1024  # longest line (an event or the manifest) read, in bytes
_TAIL_STEP = 64 * 1024


class Unreadable(Exception):
    """The file cannot be read as an export at all; the message says why (no event data)."""


def last_line(handle: IO[bytes]) -> tuple[int, bytes]:
    """Offset and content of the last non-blank line (read backwards: constant memory)."""
    size = pos = handle.seek(0, os.SEEK_END)
    tail, step = b"", _TAIL_STEP
    while pos > 0 and size - pos <= MAX_LINE:
        step = min(step * 2, pos)
        pos -= step
        handle.seek(pos)
        tail = handle.read(step) + tail
        stripped = tail.rstrip()
        cut = stripped.rfind(b"\n")
        if cut >= 0:
            return pos + cut + 1, stripped[cut + 1:]
    if pos > 0:
        raise Unreadable("the last line (the manifest) is too long")
    if not tail.strip():
        raise Unreadable("the file is empty")
    return 0, tail.strip()
