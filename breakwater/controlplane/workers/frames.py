"""Messages between the parent and a worker: a 4-byte length, then a pickle.

Both ends are Breakwater processes of one installation, started by the parent over a socket
pair nobody else holds, so pickles are safe here; a frame is pickled once and written to every
worker.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_LENGTH = struct.Struct("!I")


def frame(message: Any) -> bytes:
    """The message as one frame, ready to write to any number of workers."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message; `asyncio.IncompleteReadError` once the other end is gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))


__all__ = ["frame", "read_frame"]
