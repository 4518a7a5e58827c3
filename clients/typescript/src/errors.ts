// Errors of the kassa client: validation, strict decoding, server errors, connection.

/** Base of every error this package throws or rejects with. */
export class KassaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A value cannot be sent: bad Id, unsupported currency, integer out of range, wrong type. */
export class ValidationError extends KassaError {}

/** The encoded request exceeds the frame limit (1 MiB; 4 KiB for the Hello); not sent. */
export class RequestTooLargeError extends ValidationError {}

// ----- strict decoding (docs/protocol.md §1, §2) --------------------------------------------

/** Bytes are not a valid frame or message. Subclasses say why. */
export class DecodeError extends KassaError {}
/** The input ended inside a value. */
export class TruncatedError extends DecodeError {}
/** Bytes are left over after the message (or after the frame). */
export class TrailingBytesError extends DecodeError {}
/** An enum variant index the type does not have. */
export class UnknownVariantError extends DecodeError {}
/** A bool byte other than 00 or 01. */
export class InvalidBoolError extends DecodeError {}
/** An Option tag other than 00 or 01. */
export class InvalidOptionTagError extends DecodeError {}
/** A varint form wider than the field's type (e.g. 0xFC for a u16), or 0xFE/0xFF. */
export class InvalidVarintError extends DecodeError {}
/** A string that is not valid UTF-8. */
export class InvalidUtf8Error extends DecodeError {}
/** A decoded engine value breaks its constraints (Id, currency, decimal). */
export class InvalidValueError extends DecodeError {}
/** The body's first byte is not the codec format version 0x01. */
export class UnknownFormatVersionError extends DecodeError {}
/** A length prefix announcing 0 bytes (or an empty body). */
export class EmptyFrameError extends DecodeError {}
/** A length prefix announcing more than FRAME_BYTES_MAX (1 MiB) bytes. */
export class OversizeFrameError extends DecodeError {}

// ----- the server's Error{code} (docs/protocol.md §5) ---------------------------------------

/** `ErrorCode` names in wire order (index = code). */
export const ERROR_CODES = [
  "UnsupportedVersion",
  "Unauthenticated",
  "Forbidden",
  "MalformedFrame",
  "FrameTooLarge",
  "InvalidBatch",
  "Busy",
  "ShuttingDown",
  "StorageFailed",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The server answered `Error{code, message}`: match on the subclass or `code`, not the text. */
export class ServerError extends KassaError {
  constructor(
    readonly code: ErrorCode,
    readonly serverMessage: string,
    readonly requestId: bigint = 0n,
  ) {
    super(`server error ${code} (request ${requestId}): ${serverMessage}`);
  }
}

/** 0: Hello named a protocol version other than 1. */
export class UnsupportedVersionError extends ServerError {}
/** 1: no Hello, or a missing, invalid or revoked API key. */
export class UnauthenticatedError extends ServerError {}
/** 2: no longer sent (kept so that codes keep their numbers). */
export class ForbiddenError extends ServerError {}
/** 3: the server could not decode a frame (or a second Hello came). */
export class MalformedFrameError extends ServerError {}
/** 4: a frame was too large; with a request id the commands WERE applied (split the batch). */
export class FrameTooLargeError extends ServerError {}
/** 5: a Batch held 0 or more than 8190 commands; nothing was applied. */
export class InvalidBatchError extends ServerError {}
/** 6: the engine's queue is full, or the server is at its connection limit; nothing applied. */
export class BusyError extends ServerError {}
/** 7: the engine is stopping; nothing was applied. */
export class ShuttingDownError extends ServerError {}
/** 8: the engine's storage failed; the command may or may not be durable. */
export class StorageFailedError extends ServerError {}

const SERVER_ERRORS: Record<ErrorCode, typeof ServerError> = {
  UnsupportedVersion: UnsupportedVersionError,
  Unauthenticated: UnauthenticatedError,
  Forbidden: ForbiddenError,
  MalformedFrame: MalformedFrameError,
  FrameTooLarge: FrameTooLargeError,
  InvalidBatch: InvalidBatchError,
  Busy: BusyError,
  ShuttingDown: ShuttingDownError,
  StorageFailed: StorageFailedError,
};

/** The specific ServerError subclass for an error code. */
export function serverError(code: ErrorCode, message: string, requestId: bigint = 0n): ServerError {
  return new SERVER_ERRORS[code](code, message, requestId);
}

// ----- the connection -----------------------------------------------------------------------

/** The connection ended (and was not, or could not be, re-established) before the reply. The
 * request may or may not have been applied; resending it with the same ids is safe. */
export class ConnectionClosedError extends KassaError {
  constructor(
    message = "connection closed",
    readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** Connecting and the handshake took longer than `connectTimeoutMs`. */
export class ConnectTimeoutError extends KassaError {}

/** No reply within the call's timeout; a late reply is dropped. */
export class RequestTimeoutError extends KassaError {}

/** The server sent something the protocol does not allow (wrong reply kind, bad Welcome). */
export class ProtocolError extends KassaError {}
