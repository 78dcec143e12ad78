"""SPDY/3.1 framing, as the kubelet's streaming endpoints speak it.

The API server reaches a kubelet's ``exec``, ``attach`` and ``portForward``
with an HTTP upgrade to ``SPDY/3.1`` and then multiplexes streams over the
connection with github.com/moby/spdystream. This module is the wire format
only (no I/O): frames to bytes and bytes to frames, with the name/value header
blocks zlib-compressed against the SPDY/3 dictionary, one compression context
per direction for the whole connection (draft-mbelshe-httpbis-spdy-00,
sections 2.2-2.6).

spdystream does no flow control (it neither sends nor honours WINDOW_UPDATE),
so neither does the agent; such frames are decoded and ignored.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

VERSION = 3
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
MAX_LENGTH = (1 << 24) - 1
MAX_HEADER_BYTES = 1 << 20  # decompressed, per header block (a zlib bomb stops here)

Headers = dict[str, list[str]]


class FrameType(IntEnum):
    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6


class SpdyError(ValueError):
    """Bytes that are not a SPDY/3 frame stream (the connection cannot go on)."""


_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)  # fmt: skip
_TAIL = (
    b"100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    b"502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    b"400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    b"501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    b"Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    b"image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
    b"publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
# The SPDY/3 header dictionary (spec section 2.6.10.1): length-prefixed words,
# then a run of status lines, dates and media types.
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes = b""
    fin: bool = False


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False
    unidirectional: bool = False
    associated_to: int = 0
    priority: int = 0


@dataclass(frozen=True)
class _HeaderBlock:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False


class SynReply(_HeaderBlock):
    """The answer to a SYN_STREAM."""


class HeadersFrame(_HeaderBlock):
    """More headers on an open stream (the kubelet's protocols never send any)."""


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int = RstStatus.CANCEL


@dataclass(frozen=True)
class Settings:
    values: tuple[tuple[int, int, int], ...] = ()  # (flags, id, value)


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


Frame = (
    Data | SynStream | SynReply | HeadersFrame | RstStream | Settings | Ping | GoAway | WindowUpdate
)


def encode_headers(headers: Headers) -> bytes:
    """A name/value header block, uncompressed: names lower-cased (spdystream
    refuses others), several values of one name joined by NUL."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        key, value = name.lower().encode(), "\0".join(values).encode()
        out.append(struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value)
    return b"".join(out)


def decode_headers(block: bytes) -> Headers:
    headers: Headers = {}
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        for _ in range(count):
            name, pos = _string(block, pos)
            value, pos = _string(block, pos)
            headers.setdefault(name.lower(), []).extend(value.split("\0"))
    except struct.error as err:
        raise SpdyError(f"truncated header block: {err}") from err
    if pos != len(block):
        raise SpdyError("trailing bytes after the header block")
    return headers


def _string(block: bytes, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">I", block, pos)
    end = pos + 4 + length
    if end > len(block):
        raise SpdyError("truncated header block")
    return block[pos + 4 : end].decode("utf-8", errors="replace"), end


def _control(kind: FrameType, flags: int, payload: bytes) -> bytes:
    head = struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload))
    return head + payload


def _flags(fin: bool, unidirectional: bool = False) -> int:
    return (FLAG_FIN if fin else 0) | (FLAG_UNIDIRECTIONAL if unidirectional else 0)


class Encoder:
    """Frames to bytes; one per connection and direction (the header
    compression context spans every header block sent)."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    def headers(self, headers: Headers) -> bytes:
        raw = encode_headers(headers)
        return self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, frame: Frame) -> bytes:
        match frame:
            case Data(stream_id, data, fin):
                if len(data) > MAX_LENGTH:
                    raise ValueError("DATA frame too long")
                return struct.pack(">II", stream_id, (_flags(fin) << 24) | len(data)) + data
            case SynStream(sid, headers, fin, uni, assoc, prio):
                fixed = struct.pack(">IIBB", sid, assoc, (prio & 7) << 5, 0)
                payload = fixed + self.headers(headers)
                return _control(FrameType.SYN_STREAM, _flags(fin, uni), payload)
            case SynReply(sid, headers, fin):
                payload = struct.pack(">I", sid) + self.headers(headers)
                return _control(FrameType.SYN_REPLY, _flags(fin), payload)
            case HeadersFrame(sid, headers, fin):
                payload = struct.pack(">I", sid) + self.headers(headers)
                return _control(FrameType.HEADERS, _flags(fin), payload)
            case RstStream(sid, status):
                return _control(FrameType.RST_STREAM, 0, struct.pack(">II", sid, status))
            case Settings(values):
                entries = b"".join(struct.pack(">II", f << 24 | i, v) for f, i, v in values)
                return _control(FrameType.SETTINGS, 0, struct.pack(">I", len(values)) + entries)
            case Ping(ping_id):
                return _control(FrameType.PING, 0, struct.pack(">I", ping_id))
            case GoAway(last, status):
                return _control(FrameType.GOAWAY, 0, struct.pack(">II", last, status))
            case WindowUpdate(sid, delta):
                return _control(FrameType.WINDOW_UPDATE, 0, struct.pack(">II", sid, delta))
        raise TypeError(f"not a SPDY frame: {frame!r}")


class Decoder:
    """Bytes to frames, fed as they arrive; one per connection and direction.
    Unknown control frame types are skipped, as the spec asks."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._zlib = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            frame = self._frame(head, payload)
            if frame is not None:
                frames.append(frame)
        return frames

    def headers(self, block: bytes) -> Headers:
        try:
            raw = self._zlib.decompress(block, MAX_HEADER_BYTES)
        except zlib.error as err:
            raise SpdyError(f"header block: {err}") from err
        if self._zlib.unconsumed_tail:
            raise SpdyError("header block too large")
        return decode_headers(raw)

    def _frame(self, head: bytes, payload: bytes) -> Frame | None:
        word, flags = struct.unpack_from(">I", head)[0], head[4]
        if not word & 0x80000000:
            return Data(word & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN))
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"SPDY version {version} is not supported")
        try:
            return self._control(kind, flags, payload)
        except struct.error as err:
            raise SpdyError(f"short control frame of type {kind}") from err

    def _control(self, kind: int, flags: int, payload: bytes) -> Frame | None:
        fin = bool(flags & FLAG_FIN)
        match kind:
            case FrameType.SYN_STREAM:
                sid, assoc, prio = struct.unpack_from(">IIB", payload)
                headers = self.headers(payload[10:])
                uni = bool(flags & FLAG_UNIDIRECTIONAL)
                return SynStream(sid & 0x7FFFFFFF, headers, fin, uni, assoc & 0x7FFFFFFF, prio >> 5)
            case FrameType.SYN_REPLY | FrameType.HEADERS:
                (sid,) = struct.unpack_from(">I", payload)
                cls = SynReply if kind == FrameType.SYN_REPLY else HeadersFrame
                return cls(sid & 0x7FFFFFFF, self.headers(payload[4:]), fin)
            case FrameType.RST_STREAM:
                sid, status = struct.unpack_from(">II", payload)
                return RstStream(sid & 0x7FFFFFFF, status)
            case FrameType.SETTINGS:
                return Settings(_settings(payload))
            case FrameType.PING:
                return Ping(struct.unpack_from(">I", payload)[0])
            case FrameType.GOAWAY:
                last, status = struct.unpack_from(">II", payload)
                return GoAway(last & 0x7FFFFFFF, status)
            case FrameType.WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", payload)
                return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return None


def _settings(payload: bytes) -> tuple[tuple[int, int, int], ...]:
    (count,) = struct.unpack_from(">I", payload)
    if 4 + 8 * count > len(payload):
        raise SpdyError("SETTINGS frame shorter than its entry count")
    entries = (struct.unpack_from(">II", payload, 4 + 8 * i) for i in range(count))
    return tuple((key >> 24, key & 0xFFFFFF, value) for key, value in entries)
