"""Requests, responses and frames (docs/protocol.md §1, §3).

A frame is a u32 big-endian body length N (1..=1 MiB), then the body: the codec format version
byte 0x01, then the message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated, ClassVar, Dict, List

from .codec import STRING, U16, U32, U64, EnumOf, Reader, Seq, Struct, UnitEnum, Variant, variant
from .commands import COMMAND, Command
from .errors import (
    EmptyFrameError,
    ErrorCode,
    OversizeFrameError,
    RequestTooLargeError,
    TrailingBytesError,
    TruncatedError,
    UnknownFormatVersionError,
    ValidationError,
)
from .types import METADATA, OUTCOME, Metadata, Outcome

PROTOCOL_VERSION = 1
FORMAT_VERSION = 0x01
FRAME_BYTES_MAX = 1_048_576
HELLO_BYTES_MAX = 4_096
BATCH_COMMANDS_MAX = 8_190
LENGTH_PREFIX_BYTES = 4


# ----- client -> server -----------------------------------------------------------------------


class RequestBody(Variant):
    """enum RequestBody: 0 Hello, 1 Submit, 2 Batch, 3 Ping, 4 SubmitWithMetadata."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


@variant(0)
@dataclass(frozen=True)
class Hello(RequestBody):
    """The first request of a connection (0)."""

    protocol_version: Annotated[int, U16]
    api_key: Annotated[str, STRING]


@variant(1)
@dataclass(frozen=True)
class Submit(RequestBody):
    """One engine command (1), answered with an Outcome."""

    command: Annotated[Command, COMMAND]


@variant(2)
@dataclass(frozen=True)
class Batch(RequestBody):
    """1..=8190 commands in one engine batch (2), answered with Outcomes."""

    commands: Annotated[List[Command], Seq(COMMAND)]


@variant(3)
@dataclass(frozen=True)
class Ping(RequestBody):
    """Liveness check (3), answered Pong."""


@variant(4)
@dataclass(frozen=True)
class SubmitWithMetadata(RequestBody):
    """One engine command with metadata for the object it creates (4), answered like Submit.
    Only Transfer, PlaceHold, SettlePos, OpenBill and RequestSplit may carry metadata (any other
    command is answered Rejected(MetadataNotSupported)). `metadata` is a mapping, or a list of
    (key, value) pairs; it is validated when encoded and decodes as a dict in key order."""

    command: Annotated[Command, COMMAND]
    metadata: Annotated[Metadata, METADATA]


@dataclass(frozen=True)
class Request:
    """struct Request { request_id: u64, body: RequestBody }."""

    request_id: Annotated[int, U64]
    body: Annotated[RequestBody, EnumOf(RequestBody)]


# ----- server -> client -----------------------------------------------------------------------


class ResponseBody(Variant):
    """enum ResponseBody: 0 Welcome, 1 Outcome, 2 Outcomes, 3 Pong, 4 Error."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


@variant(0)
@dataclass(frozen=True)
class Welcome(ResponseBody):
    """The handshake succeeded (0)."""

    protocol_version: Annotated[int, U16]
    frame_bytes_max: Annotated[int, U32]


@variant(1)
@dataclass(frozen=True)
class OutcomeResponse(ResponseBody):
    """ResponseBody::Outcome(Outcome) (1): the answer to a Submit."""

    outcome: Annotated[Outcome, OUTCOME]


@variant(2)
@dataclass(frozen=True)
class OutcomesResponse(ResponseBody):
    """ResponseBody::Outcomes(Vec<Outcome>) (2): the answers to a Batch, in order."""

    outcomes: Annotated[List[Outcome], Seq(OUTCOME)]


@variant(3)
@dataclass(frozen=True)
class Pong(ResponseBody):
    """The answer to Ping (3)."""


@variant(4)
@dataclass(frozen=True)
class ErrorResponse(ResponseBody):
    """ResponseBody::Error { code, message } (4). Match on `code`, never on `message`."""

    code: Annotated[ErrorCode, UnitEnum(ErrorCode)]
    message: Annotated[str, STRING]


@dataclass(frozen=True)
class Response:
    """struct Response { request_id: u64, body: ResponseBody }."""

    request_id: Annotated[int, U64]
    body: Annotated[ResponseBody, EnumOf(ResponseBody)]


# ----- bodies and frames ----------------------------------------------------------------------

_REQUEST = Struct(Request)
_RESPONSE = Struct(Response)


def encode_body(message: object) -> bytes:
    """The codec body of a Request or Response: 0x01, then the message. Raises ValidationError
    for any value that may not be sent (bad Id or currency, out-of-range integer...)."""
    out = bytearray([FORMAT_VERSION])
    wire = _REQUEST if isinstance(message, Request) else _RESPONSE
    wire.write(out, message, type(message).__name__)
    return bytes(out)


def frame(body: bytes) -> bytes:
    """Prefixes `body` with its u32 big-endian length."""
    return struct.pack(">I", len(body)) + body


def encode_request(request: Request) -> bytes:
    """A whole request frame, checked like the server will: batches of 1..=8190 commands,
    a Hello of at most 4 KiB, any frame of at most 1 MiB."""
    if isinstance(request.body, Batch) and not 1 <= len(request.body.commands) <= BATCH_COMMANDS_MAX:
        count = len(request.body.commands)
        raise ValidationError(f"a batch holds 1..={BATCH_COMMANDS_MAX} commands, not {count}")
    body = encode_body(request)
    limit = HELLO_BYTES_MAX if isinstance(request.body, Hello) else FRAME_BYTES_MAX
    if len(body) > limit:
        raise RequestTooLargeError(f"request of {len(body)} bytes exceeds the limit of {limit} bytes")
    return frame(body)


def encode_response(response: Response) -> bytes:
    """A whole response frame (what a server sends; for tests and tools)."""
    return frame(encode_body(response))


def _decode_body(wire: Struct, body: bytes) -> object:
    if not body:
        raise EmptyFrameError("empty body")
    if body[0] != FORMAT_VERSION:
        raise UnknownFormatVersionError(f"format version byte 0x{body[0]:02x}, expected 0x01")
    src = Reader(body[1:])
    message = wire.read(src)
    if src.remaining():
        raise TrailingBytesError(f"{src.remaining()} bytes left over after the message")
    return message


def decode_request_body(body: bytes) -> Request:
    """Decodes a frame body (no length prefix) as a Request, strictly."""
    return _decode_body(_REQUEST, body)  # type: ignore[return-value]


def decode_response_body(body: bytes) -> Response:
    """Decodes a frame body (no length prefix) as a Response, strictly."""
    return _decode_body(_RESPONSE, body)  # type: ignore[return-value]


def body_length(prefix: bytes, limit: int = FRAME_BYTES_MAX) -> int:
    """The body length a 4-byte prefix announces, checked against 1..=limit."""
    if len(prefix) < LENGTH_PREFIX_BYTES:
        raise TruncatedError("a length prefix needs 4 bytes")
    length = struct.unpack(">I", prefix[:LENGTH_PREFIX_BYTES])[0]
    if length == 0:
        raise EmptyFrameError("frame announces an empty body")
    if length > limit:
        raise OversizeFrameError(f"frame of {length} bytes exceeds the limit of {limit} bytes")
    return length


def _split_whole_frame(data: bytes) -> bytes:
    length = body_length(data[:LENGTH_PREFIX_BYTES])
    end = LENGTH_PREFIX_BYTES + length
    if len(data) < end:
        raise TruncatedError(f"frame announces {length} bytes, {len(data) - LENGTH_PREFIX_BYTES} present")
    if len(data) > end:
        raise TrailingBytesError(f"{len(data) - end} bytes after the frame")
    return bytes(data[LENGTH_PREFIX_BYTES:end])


def decode_request_frame(data: bytes) -> Request:
    """Decodes exactly one whole request frame (prefix and body)."""
    return decode_request_body(_split_whole_frame(data))


def decode_response_frame(data: bytes) -> Response:
    """Decodes exactly one whole response frame (prefix and body)."""
    return decode_response_body(_split_whole_frame(data))


class FrameBuffer:
    """Splits a byte stream into frame bodies; the length is checked before the body is
    awaited, and nothing is allocated by the announced length."""

    def __init__(self, limit: int = FRAME_BYTES_MAX) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> List[bytes]:
        """Adds received bytes; returns the bodies of the frames now complete."""
        self._buffer += data
        bodies = []
        while len(self._buffer) >= LENGTH_PREFIX_BYTES:
            length = body_length(bytes(self._buffer[:LENGTH_PREFIX_BYTES]), self.limit)
            end = LENGTH_PREFIX_BYTES + length
            if len(self._buffer) < end:
                break
            bodies.append(bytes(self._buffer[LENGTH_PREFIX_BYTES:end]))
            del self._buffer[:end]
        return bodies

    def pending_bytes(self) -> int:
        return len(self._buffer)
