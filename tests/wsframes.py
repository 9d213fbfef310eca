"""
Build and read WebSocket frames in tests, independently of the code under test: frames a
server might send (well formed or not), and a reader for the masked frames a client sends.
"""

from __future__ import annotations

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def server_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length_size: int | None = None,
) -> bytes:
    """
    One frame as a server writes it. C{length_size} (0, 2 or 8 bytes of extended length)
    forces a length encoding, minimal or not; C{mask} masks it, which a server must not do.
    """
    size = len(payload)
    if length_size is None:
        length_size = 0 if size < 126 else 2 if size < 0x10000 else 8
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length_size == 0:
        header = bytes((first, mask_bit | size))
    else:
        marker = 126 if length_size == 2 else 127
        header = bytes((first, mask_bit | marker)) + size.to_bytes(length_size, "big")
    if mask is None:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_client_frames(data: bytes) -> list[tuple[int, bool, bytes]]:
    """Split what a client wrote into (opcode, fin, unmasked payload), checking the mask."""
    frames = []
    position = 0
    while position < len(data):
        first, second = data[position], data[position + 1]
        assert second & 0x80, "a client frame must be masked"
        size = second & 0x7F
        position += 2
        if size == 126:
            size = int.from_bytes(data[position : position + 2], "big")
            position += 2
        elif size == 127:
            size = int.from_bytes(data[position : position + 8], "big")
            position += 8
        key = data[position : position + 4]
        position += 4
        masked = data[position : position + size]
        assert len(masked) == size, "a client frame was cut short"
        position += size
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(masked))
        frames.append((first & 0x0F, bool(first & 0x80), payload))
    return frames
