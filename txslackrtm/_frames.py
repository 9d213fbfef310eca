"""
WebSocket framing for the common case, without I/O: cutting received bytes into whole
frames while reading text frames' payloads, and building the masked text frames a client
sends.

Slack sends almost every event as one unfragmented, unmasked text frame. Reading those
straight out of the received bytes costs a fraction of a general parser's work per frame.
L{FrameSplitter} reads only those; every other frame (control, binary, fragment, masked,
reserved bits, a length not minimally encoded) it cuts out whole, for a general parser that
knows all of RFC 6455, so that parser never holds part of a frame.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from typing import Final

_TEXT_FINAL: Final = 0x81  # FIN set, no reserved bits, opcode 1 (text)
_MASK_BIT: Final = 0x80
_MASK_SIZE: Final = 4

TextRun = list[bytes]
"""The payloads of consecutive text frames, in order."""

Pieces = list[tuple[int, int, TextRun | None]]
"""
What received bytes hold, in order, each piece as C{(start, end, payloads)}: either a run of
text frames, read (C{payloads} lists them), or one frame of any other kind, left whole for
the general parser (C{payloads} is C{None}). C{start} and C{end} bound the piece's frames,
headers included; each piece starts where the one before it ends.
"""


class FrameSplitter:
    """
    Cuts a byte stream into whole WebSocket frames, reading unmasked, final text frames.

    Bytes go in with L{split}. A frame cut short at the end is held back until the rest of it
    arrives, joined only once it is whole.
    """

    __slots__ = ("_held", "_held_size", "_limit", "_wanted")

    def __init__(self, limit: int) -> None:
        """
        @param limit: the largest payload of a frame; a frame announcing more is not cut out
            or held: it and everything after it go to the general parser, which refuses it.
        """
        self._limit = limit
        self._held: list[bytes] = []
        self._held_size = 0
        self._wanted = 0  # bytes to hold before the held frame can be whole

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

    def split(self, data: bytes) -> tuple[bytes, Pieces, int] | None:
        """
        Add C{data} to what is held and cut out the frames now whole.

        @return: C{None} while a held frame is still incomplete; otherwise the bytes cut
            (what was held, then C{data}), the L{Pieces} in them, and the offset from which
            the bytes belong to the general parser as they are (their length when none do:
            then whatever follows the last frame is held).
        """
        if self._held:
            self._held.append(data)
            self._held_size += len(data)
            if self._held_size < self._wanted:
                return None
            data = self.take_held(b"")
        pieces: Pieces = []
        run: TextRun | None = None
        run_start = 0
        limit = self._limit
        size = len(data)
        position = 0
        rest = size  # where the general parser's bytes start
        wanted = 0  # the size of the incomplete frame at position, once known to be one
        while position < size:
            if size - position < 2:
                wanted = 2
                break
            first = data[position]
            length = data[position + 1]
            # Text frames are read only when final, unmasked, with no reserved bits and
            # their length minimally encoded, the two common headers first.
            if length < 126:  # unmasked, with a 7-bit length
                start = position + 2
                text = first == _TEXT_FINAL
            elif length == 126:  # unmasked, with a 16-bit length
                start = position + 4
                if start > size:
                    wanted = 4
                    break
                length = data[position + 2] << 8 | data[position + 3]
                text = first == _TEXT_FINAL and length >= 126
            else:  # a 64-bit length, or masked (as a server's frames must not be)
                masked = length & _MASK_BIT
                length &= 0x7F
                header, shortest = (
                    (2, 0) if length < 126 else (4, 126) if length == 126 else (10, 0x10000)
                )
                start = position + header
                if start > size:
                    wanted = header
                    break
                if header > 2:
                    length = int.from_bytes(data[position + 2 : start], "big")
                text = first == _TEXT_FINAL and length >= shortest and not masked
                if masked:
                    start += _MASK_SIZE
            if length > limit:
                rest = position
                break
            end = start + length
            if end > size:
                wanted = end - position
                break
            if text:
                if run is None:
                    run = []
                    run_start = position
                run.append(data[start:end])
            else:
                if run is not None:
                    pieces.append((run_start, position, run))
                    run = None
                pieces.append((position, end, None))
            position = end
        if run is not None:
            pieces.append((run_start, position, run))
        if wanted:
            tail = data[position:]
            self._held = [tail]
            self._held_size = len(tail)
            self._wanted = wanted
        return data, pieces, rest


def text_frames_size(payloads: Sequence[bytes]) -> int:
    """How many bytes the text frames carrying C{payloads} took, headers included."""
    return sum(
        len(payload) + (2 if len(payload) < 126 else 4 if len(payload) < 0x10000 else 10)
        for payload in payloads
    )


def _fresh_masking_keys() -> Iterator[bytes]:
    """
    Masking keys from the operating system's random source, fetched 1,024 at a time: one
    system call per frame would cost about a quarter of building the frame. Like the rest of
    a Twisted protocol, it is used from the reactor's thread only.
    """
    while True:
        pool = os.urandom(4096)
        yield from (pool[start : start + _MASK_SIZE] for start in range(0, len(pool), _MASK_SIZE))


_masking_keys = _fresh_masking_keys()


def _forget_masking_keys() -> None:
    """A forked child must not send with the keys its parent draws next."""
    global _masking_keys
    _masking_keys = _fresh_masking_keys()


os.register_at_fork(after_in_child=_forget_masking_keys)
_short_headers = [bytes((_TEXT_FINAL, _MASK_BIT | size)) for size in range(126)]
_HEADER_16: Final = struct.Struct("!BBH")
_HEADER_64: Final = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """
    One final text frame carrying C{payload}, masked with a fresh random key as RFC 6455
    requires of every frame a client sends.
    """
    size = len(payload)
    key = next(_masking_keys)
    if size < 126:
        header = _short_headers[size]
    elif size < 0x10000:
        header = _HEADER_16.pack(_TEXT_FINAL, _MASK_BIT | 126, size)
    else:
        header = _HEADER_64.pack(_TEXT_FINAL, _MASK_BIT | 127, size)
    keystream = key * (size // 4 + 1)
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(keystream[:size], "little")
    return b"".join((header, key, masked.to_bytes(size, "little")))
