"""Exceptions of the kassa client: validation, strict decoding, server errors, connection."""

from __future__ import annotations

import enum
from typing import Dict, Optional, Type


class ErrorCode(enum.IntEnum):
    """enum ErrorCode of the `Error{code}` response (value = wire index); §5 gives meanings."""

    UnsupportedVersion = 0
    Unauthenticated = 1
    Forbidden = 2
    MalformedFrame = 3
    FrameTooLarge = 4
    InvalidBatch = 5
    Busy = 6
    ShuttingDown = 7
    StorageFailed = 8


class KassaError(Exception):
    """Base of every error raised by this package."""


# ----- before sending -------------------------------------------------------------------------


class ValidationError(KassaError, ValueError):
    """A value cannot be sent: bad Id, unsupported currency, integer out of range, wrong type."""


class RequestTooLargeError(ValidationError):
    """The encoded request exceeds the frame limit (1 MiB; 4 KiB for the Hello); it was not sent."""


# ----- strict decoding (docs/protocol.md §1, §2) ----------------------------------------------


class DecodeError(KassaError, ValueError):
    """Bytes are not a valid frame or message. Subclasses say why."""


class TruncatedError(DecodeError):
    """The input ended inside a value."""


class TrailingBytesError(DecodeError):
    """Bytes are left over after the message (or after the frame)."""


class UnknownVariantError(DecodeError):
    """An enum variant index that the type does not have."""


class InvalidBoolError(DecodeError):
    """A bool byte other than 00 or 01."""


class InvalidOptionTagError(DecodeError):
    """An Option tag other than 00 or 01."""


class InvalidVarintError(DecodeError):
    """A varint form wider than the field's type (e.g. 0xFC for a u16), or 0xFE/0xFF."""


class InvalidUtf8Error(DecodeError):
    """A string that is not valid UTF-8."""


class InvalidValueError(DecodeError):
    """A decoded engine value breaks its constraints (Id, currency, decimal)."""


class UnknownFormatVersionError(DecodeError):
    """The body's first byte is not the codec format version 0x01."""


class EmptyFrameError(DecodeError):
    """A length prefix announcing 0 bytes (or an empty body)."""


class OversizeFrameError(DecodeError):
    """A length prefix announcing more than FRAME_BYTES_MAX (1 MiB) bytes."""


# ----- the server's Error{code} (docs/protocol.md §5) -----------------------------------------


class ServerError(KassaError):
    """The server answered `Error{code, message}`. Match on the subclass or `code`, not the text."""

    code_number: int = -1

    def __init__(self, code: int, message: str, request_id: int = 0) -> None:
        name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
        super().__init__(f"server error {name} (request {request_id}): {message}")
        self.code = ErrorCode(code) if code in ErrorCode._value2member_map_ else code
        self.message = message
        self.request_id = request_id


class UnsupportedVersionError(ServerError):
    """0: Hello named a protocol version other than 1."""

    code_number = 0


class UnauthenticatedError(ServerError):
    """1: no Hello, a missing, invalid or revoked API key."""

    code_number = 1


class ForbiddenError(ServerError):
    """2: no longer sent (kept so that codes keep their numbers)."""

    code_number = 2


class MalformedFrameError(ServerError):
    """3: the server could not decode a frame (or a second Hello came)."""

    code_number = 3


class FrameTooLargeError(ServerError):
    """4: a frame was too large; with a request id, the commands WERE applied, only the reply was
    replaced (split the batch)."""

    code_number = 4


class InvalidBatchError(ServerError):
    """5: a Batch held 0 or more than 8190 commands; nothing was applied."""

    code_number = 5


class BusyError(ServerError):
    """6: the engine's queue is full (or the server is at its connection limit); nothing applied."""

    code_number = 6


class ShuttingDownError(ServerError):
    """7: the engine is stopping; nothing was applied."""

    code_number = 7


class StorageFailedError(ServerError):
    """8: the engine's storage failed; the command may or may not be durable."""

    code_number = 8


SERVER_ERRORS: Dict[int, Type[ServerError]] = {
    cls.code_number: cls
    for cls in (
        UnsupportedVersionError,
        UnauthenticatedError,
        ForbiddenError,
        MalformedFrameError,
        FrameTooLargeError,
        InvalidBatchError,
        BusyError,
        ShuttingDownError,
        StorageFailedError,
    )
}


def server_error(code: int, message: str, request_id: int = 0) -> ServerError:
    """The specific ServerError subclass for an `ErrorCode`."""
    return SERVER_ERRORS.get(int(code), ServerError)(code, message, request_id)


# ----- the connection -------------------------------------------------------------------------


class ConnectionClosedError(KassaError, ConnectionError):
    """The connection ended (and was not, or could not be, re-established) before the reply.
    The request may or may not have been applied; resending it with the same ids is safe."""

    def __init__(self, message: str = "connection closed", cause: Optional[BaseException] = None) -> None:
        super().__init__(message)
        self.cause = cause


class ConnectTimeoutError(KassaError, TimeoutError):
    """Connecting and the handshake took longer than `connect_timeout`."""


class RequestTimeoutError(KassaError, TimeoutError):
    """No reply within the call's timeout; a late reply is dropped. The request may or may not
    have been applied."""


class ProtocolError(KassaError):
    """The server sent something the protocol does not allow (wrong reply kind, bad Welcome)."""


__all__ = [
    name for name, value in list(globals().items()) if isinstance(value, type) and issubclass(value, Exception)
] + ["server_error", "SERVER_ERRORS", "ErrorCode"]
