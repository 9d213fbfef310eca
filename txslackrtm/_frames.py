"""
The common case of WebSocket framing, without I/O: finding whole text frames in received
bytes, and building the masked text frames a client sends.

Slack sends almost every event as one unfragmented, unmasked text frame. Reading those
straight out of the received bytes costs a fraction of a general parser's work per frame.
L{TextFrameReader} does only that: it stops at the first frame of any other kind (control,
binary, fragmented, masked, reserved bits, oversized, a length not minimally encoded) and
leaves it, and everything after it, to a general parser that knows the whole of RFC 6455.
"""

from __future__ import annotations

import os
from typing import Final

_TEXT_FINAL: Final = 0x81  # FIN set, no reserved bits, opcode 1 (text)
_MASK_BIT: Final = 0x80


class TextFrameReader:
    """
    Finds the whole, unmasked, final text frames at the front of a byte stream.

    Bytes go in with L{read}; out come the frames' payload positions and where the frames
    this reader leaves alone begin. An incomplete text frame at the end is held back until
    the rest of it arrives.
    """

    __slots__ = ("_held", "_held_size", "_limit", "_wanted")

    def __init__(self, limit: int) -> None:
        """
        @param limit: the largest payload read here; a larger frame is left to the general
            parser, which knows how to refuse it.
        """
        self._limit = limit
        self._held: list[bytes] = []
        self._held_size = 0
        self._wanted = 0  # bytes to hold before the held frame can be complete

    @property
    def holding(self) -> bool:
        """Whether the start of a frame is held back, waiting for the rest of it."""
        return bool(self._held)

    def take_held(self, data: bytes) -> bytes:
        """Give back the held bytes, followed by C{data}, and hold nothing any more."""
        held, self._held = self._held, []
        self._held_size = self._wanted = 0
        held.append(data)
        return b"".join(held)

    def read(self, data: bytes) -> tuple[bytes, list[int], int] | None:
        """
        Add C{data} to what is held and find the frames now complete.

        @return: C{None} while the one frame held is still incomplete; otherwise the bytes
            read (what was held, then C{data}), the frames' payload bounds in them as a flat
            list of start and end offsets, and the offset where the bytes left to the general
            parser start (the length of the bytes when there are none). Whatever lies
            between the last frame and that offset is now held.
        """
        if self._held:
            self._held.append(data)
            self._held_size += len(data)
            if self._held_size < self._wanted:
                return None
            data = self.take_held(b"")
        bounds: list[int] = []
        limit = self._limit
        size = len(data)
        position = 0
        while position < size:
            if data[position] != _TEXT_FINAL:
                return data, bounds, position
            if size - position < 2:
                return self._hold(data, bounds, position, 2)
            length = data[position + 1]
            if length & _MASK_BIT:
                return data, bounds, position
            if length < 126:
                start = position + 2
            elif length == 126:
                start = position + 4
                if start > size:
                    return self._hold(data, bounds, position, 4)
                length = int.from_bytes(data[position + 2 : start], "big")
                if length < 126:
                    return data, bounds, position
            else:
                start = position + 10
                if start > size:
                    return self._hold(data, bounds, position, 10)
                length = int.from_bytes(data[position + 2 : start], "big")
                if length < 0x10000:
                    return data, bounds, position
            if length > limit:
                return data, bounds, position
            end = start + length
            if end > size:
                return self._hold(data, bounds, position, end - position)
            bounds.append(start)
            bounds.append(end)
            position = end
        return data, bounds, size

    def _hold(
        self, data: bytes, bounds: list[int], position: int, wanted: int
    ) -> tuple[bytes, list[int], int]:
        tail = data[position:]
        self._held = [tail]
        self._held_size = len(tail)
        self._wanted = wanted
        return data, bounds, len(data)


def text_frame(payload: bytes) -> bytes:
    """
    One final text frame carrying C{payload}, masked with a fresh random key as RFC 6455
    requires of every frame a client sends.
    """
    size = len(payload)
    key = os.urandom(4)
    if size < 126:
        header = bytes((_TEXT_FINAL, _MASK_BIT | size))
    elif size < 0x10000:
        header = bytes((_TEXT_FINAL, _MASK_BIT | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_TEXT_FINAL, _MASK_BIT | 127)) + size.to_bytes(8, "big")
    keystream = key * (size // 4 + 1)
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(keystream[:size], "little")
    return header + key + masked.to_bytes(size, "little")
