"""SPDY/3.1 framing against bytes written by github.com/moby/spdystream's framer
(v0.5.1, the one the API server and kubectl use), and back."""

from __future__ import annotations

import struct
import zlib

import pytest

from navigator.local.agent import spdy

pytestmark = pytest.mark.unit

# Written by spdystream's spdy.Framer (one framer per vector, so each header
# block sequence starts a fresh compression context).
GO_SYN_STREAMS = bytes.fromhex(
    "80030001000000290000000100000000000078f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a"
    "6800000000ffff800300010000001900000003000000000000c22ac5565c92925f5a02000000ffff8003"
    "00010100002e0000000500000000000002a55548b15d04ce2116061606186a41251228c3701641223f13"
    "9429180d00000000ffff"
)
GO_SYN_REPLY = bytes.fromhex("80030002000000140000000178f9e3c6a7c26260606000000000ffff")
GO_HEADERS = bytes.fromhex(
    "800300080000001c0000000378f9e3c6a7c262606060046150c26636643002000000ffff"
)
GO_DATA = bytes.fromhex("000000030000000368690a0000000301000000")
GO_RST = bytes.fromhex("80030003000000080000000700000005")
GO_PING = bytes.fromhex("800300060000000400000001")
GO_GOAWAY = bytes.fromhex("80030007000000080000000500000000")
GO_SETTINGS = bytes.fromhex("800300040000000c000000010000000700010000")
GO_WINDOW_UPDATE = bytes.fromhex("800300090000000800000003000003e8")


def test_the_dictionary_is_spdy3s() -> None:
    assert len(spdy.DICTIONARY) == 1423
    # The dictionary id in spdystream's zlib header (78 f9 e3c6a7c2) is its Adler-32.
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_syn_streams_from_spdystream_share_one_compression_context() -> None:
    frames = spdy.Decoder().feed(GO_SYN_STREAMS)
    assert frames == [
        spdy.SynStream(1, {"streamtype": ["error"]}),
        spdy.SynStream(3, {"streamtype": ["stdout"]}),
        spdy.SynStream(5, {"port": ["8080"], "streamtype": ["data"], "requestid": ["0"]}, fin=True),
    ]


@pytest.mark.parametrize(
    ("wire", "frames"),
    [
        (GO_SYN_REPLY, [spdy.SynReply(1, {})]),
        (GO_HEADERS, [spdy.HeadersFrame(3, {"a": ["1", "2"]})]),
        (GO_DATA, [spdy.Data(3, b"hi\n"), spdy.Data(3, b"", fin=True)]),
        (GO_RST, [spdy.RstStream(7, spdy.RstStatus.CANCEL)]),
        (GO_PING, [spdy.Ping(1)]),
        (GO_GOAWAY, [spdy.GoAway(5, 0)]),
        (GO_SETTINGS, [spdy.Settings(((0, 7, 65536),))]),
        (GO_WINDOW_UPDATE, [spdy.WindowUpdate(3, 1000)]),
    ],
)
def test_frames_from_spdystream(wire: bytes, frames: list[spdy.Frame]) -> None:
    assert spdy.Decoder().feed(wire) == frames


@pytest.mark.parametrize(
    ("frame", "wire"),
    [
        (spdy.Data(3, b"hi\n"), GO_DATA[:11]),
        (spdy.Data(3, fin=True), GO_DATA[11:]),
        (spdy.RstStream(7, spdy.RstStatus.CANCEL), GO_RST),
        (spdy.Ping(1), GO_PING),
        (spdy.GoAway(5), GO_GOAWAY),
        (spdy.Settings(((0, 7, 65536),)), GO_SETTINGS),
        (spdy.WindowUpdate(3, 1000), GO_WINDOW_UPDATE),
    ],
)
def test_frames_without_headers_are_byte_for_byte_spdystreams(
    frame: spdy.Frame, wire: bytes
) -> None:
    assert spdy.Encoder().encode(frame) == wire


def test_header_frames_round_trip_through_one_context_each_way() -> None:
    frames: list[spdy.Frame] = [
        spdy.SynReply(1, {}),
        spdy.SynStream(2, {"streamtype": ["error"]}, fin=True, priority=3),
        spdy.HeadersFrame(3, {"a": ["1", "2"]}),
        spdy.SynReply(5, {"x": ["y"]}, fin=True),
    ]
    encoder, decoder = spdy.Encoder(), spdy.Decoder()
    wire = b"".join(encoder.encode(f) for f in frames)
    assert decoder.feed(wire) == frames


def test_header_names_go_out_lower_case() -> None:
    wire = spdy.Encoder().encode(spdy.SynReply(1, {"StreamType": ["data"]}))
    assert spdy.Decoder().feed(wire) == [spdy.SynReply(1, {"streamtype": ["data"]})]


def test_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    wire = GO_SYN_STREAMS + GO_DATA + GO_PING
    decoder = spdy.Decoder()
    frames = [f for i in range(len(wire)) for f in decoder.feed(wire[i : i + 1])]
    assert [type(f).__name__ for f in frames] == ["SynStream"] * 3 + ["Data"] * 2 + ["Ping"]


def test_unknown_control_frames_are_skipped() -> None:
    noop = struct.pack(">HHI", 0x8003, 5, 0)  # SPDY/2's NOOP
    assert spdy.Decoder().feed(noop + GO_PING) == [spdy.Ping(1)]


@pytest.mark.parametrize(
    "wire",
    [
        struct.pack(">HHI", 0x8002, 6, 4) + b"\0\0\0\1",  # SPDY/2
        struct.pack(">HHI", 0x8003, 3, 4) + b"\0\0\0\1",  # RST_STREAM without a status
        GO_SYN_REPLY[:12] + b"garbage!" + GO_SYN_REPLY[20:],  # not zlib
    ],
)
def test_broken_frames_are_refused(wire: bytes) -> None:
    with pytest.raises(spdy.SpdyError):
        spdy.Decoder().feed(wire)


def test_a_header_block_that_inflates_past_the_limit_is_refused() -> None:
    z = zlib.compressobj(zdict=spdy.DICTIONARY)
    huge = struct.pack(">I", 1) + struct.pack(">I", 1) + b"a" + struct.pack(">I", 2 << 20)
    block = z.compress(huge + b"x" * (2 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)
    frame = struct.pack(">HHI", 0x8003, 2, 4 + len(block)) + struct.pack(">I", 1) + block
    with pytest.raises(spdy.SpdyError, match="too large"):
        spdy.Decoder().feed(frame)


def test_truncated_header_blocks_are_refused() -> None:
    with pytest.raises(spdy.SpdyError):
        spdy.decode_headers(struct.pack(">II", 1, 10) + b"short")
