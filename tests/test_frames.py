# -*- test-case-name: tests.test_frames -*-
"""Tests for the common-case WebSocket framing, without a socket."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txslackrtm._frames import FrameSplitter, text_frame, text_frames_size

from .wsframes import BINARY, CLOSE, CONTINUATION, PING, TEXT, read_client_frames, server_frame

LIMIT = 70_000


def split_all(splitter: FrameSplitter, *chunks: bytes) -> tuple[list[bytes], bytes]:
    """
    Feed chunks; return what was cut out, in order (a text frame's payload, or any other
    frame whole, marked by a leading "other:"), and the bytes left to the general parser.
    Pieces must be contiguous, and a run's bounds must be those of its frames.
    """
    cut: list[bytes] = []
    for chunk in chunks:
        found = splitter.split(chunk)
        if found is None:
            continue
        data, pieces, rest = found
        position = 0
        for start, end, payloads in pieces:
            assert start == position, "pieces are contiguous"
            position = end
            if payloads is None:
                cut.append(b"other:" + data[start:end])
            else:
                assert text_frames_size(payloads) == end - start
                cut.extend(payloads)
        if rest < len(data):
            return cut, data[rest:]
    return cut, b""


class SplitterTests(SynchronousTestCase):
    def test_whole_frames_of_every_length_encoding(self) -> None:
        """Text frames with 7-bit, 16-bit and 64-bit lengths are read, in order."""
        payloads = [b"", b"{}", b"a" * 125, b"b" * 126, b"c" * 65535, b"d" * 65536]
        data = b"".join(server_frame(TEXT, p) for p in payloads)
        self.assertEqual(split_all(FrameSplitter(LIMIT), data), (payloads, b""))

    def test_split_anywhere(self) -> None:
        """A stream cut at any byte gives the same frames, each once."""
        payloads = [b'{"type":"hello"}', b"x" * 200, b"y" * 70]
        data = b"".join(server_frame(TEXT, p) for p in payloads)
        for cut in range(len(data) + 1):
            with self.subTest(cut=cut):
                self.assertEqual(
                    split_all(FrameSplitter(LIMIT), data[:cut], data[cut:]), (payloads, b"")
                )

    def test_byte_by_byte(self) -> None:
        """Frames arriving a byte at a time are read once each is complete."""
        payloads = [b"a" * 300, b"{}", b"b" * 5]
        data = b"".join(server_frame(TEXT, p) for p in payloads)
        chunks = [data[i : i + 1] for i in range(len(data))]
        self.assertEqual(split_all(FrameSplitter(LIMIT), *chunks), (payloads, b""))

    def test_short_frame_after_a_held_byte_is_not_kept_waiting(self) -> None:
        """A frame shorter than the longest header is read as soon as all of it is here."""
        splitter = FrameSplitter(LIMIT)
        frame = server_frame(TEXT, b"{}")
        self.assertEqual(split_all(splitter, frame[:1], frame[1:]), ([b"{}"], b""))
        self.assertFalse(splitter.holding)

    def test_other_frames_are_cut_out_whole(self) -> None:
        """Every other kind of frame is cut out whole, wherever the stream is cut."""
        others = {
            "binary": server_frame(BINARY, b"\x00\x01"),
            "ping": server_frame(PING, b"p"),
            "close": server_frame(CLOSE, b"\x03\xe8"),
            "first fragment": server_frame(TEXT, b"part", fin=False),
            "continuation": server_frame(CONTINUATION, b"part"),
            "reserved bits": server_frame(TEXT, b"{}", rsv=4),
            "reserved opcode": server_frame(3, b"{}"),
            "masked": server_frame(TEXT, b"{}", mask=b"abcd"),
            "masked, 16-bit length": server_frame(BINARY, b"m" * 200, mask=b"abcd"),
            "16-bit length not minimal": server_frame(TEXT, b"{}", length_size=2),
            "64-bit length not minimal": server_frame(TEXT, b"x" * 300, length_size=8),
        }
        before, after = server_frame(TEXT, b"before"), server_frame(TEXT, b"after")
        for name, other in others.items():
            data = before + other + after
            for cut in range(len(data) + 1):
                with self.subTest(name, cut=cut):
                    splitter = FrameSplitter(LIMIT)
                    self.assertEqual(
                        split_all(splitter, data[:cut], data[cut:]),
                        ([b"before", b"other:" + other, b"after"], b""),
                    )
                    self.assertFalse(splitter.holding)

    def test_masked_frame_with_a_64_bit_length(self) -> None:
        """A masked frame with a 64-bit length is cut out whole, its header cut anywhere."""
        other = server_frame(TEXT, b"m" * 65536, mask=b"abcd")
        data = server_frame(TEXT, b"before") + other + server_frame(TEXT, b"after")
        for cut in [*range(24), len(data) - 10]:
            with self.subTest(cut=cut):
                self.assertEqual(
                    split_all(FrameSplitter(LIMIT), data[:cut], data[cut:]),
                    ([b"before", b"other:" + other, b"after"], b""),
                )

    def test_frame_over_the_limit_is_left_with_all_after_it(self) -> None:
        """A frame announcing more than the limit is neither held nor cut: it is left."""
        for opcode in (TEXT, BINARY):
            with self.subTest(opcode=opcode):
                too_big = server_frame(opcode, b"x" * (LIMIT + 1))
                after = server_frame(TEXT, b"after")
                splitter = FrameSplitter(LIMIT)
                self.assertEqual(
                    split_all(splitter, server_frame(TEXT, b"a") + too_big[:20]),
                    ([b"a"], too_big[:20]),
                )
                self.assertFalse(splitter.holding)
                splitter = FrameSplitter(LIMIT)
                self.assertEqual(split_all(splitter, too_big + after), ([], too_big + after))

    def test_held_bytes_can_be_taken_back(self) -> None:
        """What is held is given back in front of new bytes, and then no longer held."""
        splitter = FrameSplitter(LIMIT)
        frame = server_frame(TEXT, b"x" * 1000)
        self.assertEqual(split_all(splitter, frame[:500]), ([], b""))
        self.assertTrue(splitter.holding)
        self.assertEqual(splitter.take_held(frame[500:]), frame)
        self.assertFalse(splitter.holding)
        self.assertEqual(split_all(splitter, frame), ([b"x" * 1000], b""))

    def test_incomplete_frame_costs_no_copy_per_chunk(self) -> None:
        """A large frame in many chunks is held as it comes and joined once, when complete."""
        splitter = FrameSplitter(LIMIT)
        frame = server_frame(TEXT, b"x" * 60_000)
        chunks = [frame[i : i + 1000] for i in range(0, len(frame), 1000)]
        results = [splitter.split(chunk) for chunk in chunks]
        self.assertEqual(results[1:-1], [None] * (len(chunks) - 2))
        self.assertIsNotNone(results[-1])

    @settings(max_examples=200, deadline=None)
    @given(
        payloads=st.lists(st.binary(max_size=400), max_size=8),
        cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
    )
    def test_any_chunking(self, payloads: list[bytes], cuts: list[int]) -> None:
        """However text frames are chunked, each payload comes out once, in order."""
        data = b"".join(server_frame(TEXT, p) for p in payloads)
        points = sorted({min(c, len(data)) for c in cuts})
        chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
        self.assertEqual(split_all(FrameSplitter(LIMIT), *chunks), (payloads, b""))


class WriterTests(SynchronousTestCase):
    def test_round_trip_at_every_length_encoding(self) -> None:
        """A written frame is one masked, final text frame carrying the payload."""
        for size in (0, 1, 125, 126, 65535, 65536):
            with self.subTest(size=size):
                payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
                self.assertEqual(read_client_frames(text_frame(payload)), [(TEXT, True, payload)])

    def test_minimal_length_encoding(self) -> None:
        """The header is as short as the payload allows."""
        self.assertEqual(len(text_frame(b"x" * 125)), 2 + 4 + 125)
        self.assertEqual(len(text_frame(b"x" * 126)), 4 + 4 + 126)
        self.assertEqual(len(text_frame(b"x" * 65536)), 10 + 4 + 65536)

    def test_fresh_key_per_frame(self) -> None:
        """Each frame gets its own masking key."""
        keys = {text_frame(b"{}")[2:6] for _ in range(20)}
        self.assertGreater(len(keys), 1)

    def test_forked_child_draws_its_own_keys(self) -> None:
        """A child forked after frames were sent does not reuse its parent's next keys."""
        text_frame(b"{}")
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            os.write(write_end, b"".join(text_frame(b"{}")[2:6] for _ in range(8)))
            os._exit(0)
        os.close(write_end)
        os.waitpid(child, 0)
        with os.fdopen(read_end, "rb") as pipe:
            child_keys = pipe.read()
        parent_keys = b"".join(text_frame(b"{}")[2:6] for _ in range(8))
        self.assertEqual(len(child_keys), 32)
        self.assertNotEqual(child_keys, parent_keys)

    @given(st.binary(max_size=2000))
    def test_any_payload(self, payload: bytes) -> None:
        """Any payload survives masking."""
        self.assertEqual(read_client_frames(text_frame(payload)), [(TEXT, True, payload)])
