/** Base of every error this package throws or rejects with. */
export declare class KassaError extends Error {
    constructor(message: string);
}
/** A value cannot be sent: bad Id, unsupported currency, integer out of range, wrong type. */
export declare class ValidationError extends KassaError {
}
/** The encoded request exceeds the frame limit (1 MiB; 4 KiB for the Hello); not sent. */
export declare class RequestTooLargeError extends ValidationError {
}
/** Bytes are not a valid frame or message. Subclasses say why. */
export declare class DecodeError extends KassaError {
}
/** The input ended inside a value. */
export declare class TruncatedError extends DecodeError {
}
/** Bytes are left over after the message (or after the frame). */
export declare class TrailingBytesError extends DecodeError {
}
/** An enum variant index the type does not have. */
export declare class UnknownVariantError extends DecodeError {
}
/** A bool byte other than 00 or 01. */
export declare class InvalidBoolError extends DecodeError {
}
/** An Option tag other than 00 or 01. */
export declare class InvalidOptionTagError extends DecodeError {
}
/** A varint form wider than the field's type (e.g. 0xFC for a u16), or 0xFE/0xFF. */
export declare class InvalidVarintError extends DecodeError {
}
/** A string that is not valid UTF-8. */
export declare class InvalidUtf8Error extends DecodeError {
}
/** A decoded engine value breaks its constraints (Id, currency, decimal). */
export declare class InvalidValueError extends DecodeError {
}
/** The body's first byte is not the codec format version 0x01. */
export declare class UnknownFormatVersionError extends DecodeError {
}
/** A length prefix announcing 0 bytes (or an empty body). */
export declare class EmptyFrameError extends DecodeError {
}
/** A length prefix announcing more than FRAME_BYTES_MAX (1 MiB) bytes. */
export declare class OversizeFrameError extends DecodeError {
}
/** `ErrorCode` names in wire order (index = code). */
export declare const ERROR_CODES: readonly ["UnsupportedVersion", "Unauthenticated", "Forbidden", "MalformedFrame", "FrameTooLarge", "InvalidBatch", "Busy", "ShuttingDown", "StorageFailed"];
export type ErrorCode = (typeof ERROR_CODES)[number];
/** The server answered `Error{code, message}`: match on the subclass or `code`, not the text. */
export declare class ServerError extends KassaError {
    readonly code: ErrorCode;
    readonly serverMessage: string;
    readonly requestId: bigint;
    constructor(code: ErrorCode, serverMessage: string, requestId?: bigint);
}
/** 0: Hello named a protocol version other than 1. */
export declare class UnsupportedVersionError extends ServerError {
}
/** 1: no Hello, or a missing, invalid or revoked API key. */
export declare class UnauthenticatedError extends ServerError {
}
/** 2: no longer sent (kept so that codes keep their numbers). */
export declare class ForbiddenError extends ServerError {
}
/** 3: the server could not decode a frame (or a second Hello came). */
export declare class MalformedFrameError extends ServerError {
}
/** 4: a frame was too large; with a request id the commands WERE applied (split the batch). */
export declare class FrameTooLargeError extends ServerError {
}
/** 5: a Batch held 0 or more than 8190 commands; nothing was applied. */
export declare class InvalidBatchError extends ServerError {
}
/** 6: the engine's queue is full, or the server is at its connection limit; nothing applied. */
export declare class BusyError extends ServerError {
}
/** 7: the engine is stopping; nothing was applied. */
export declare class ShuttingDownError extends ServerError {
}
/** 8: the engine's storage failed; the command may or may not be durable. */
export declare class StorageFailedError extends ServerError {
}
/** The specific ServerError subclass for an error code. */
export declare function serverError(code: ErrorCode, message: string, requestId?: bigint): ServerError;
/** The connection ended (and was not, or could not be, re-established) before the reply. The
 * request may or may not have been applied; resending it with the same ids is safe. */
export declare class ConnectionClosedError extends KassaError {
    readonly cause?: unknown | undefined;
    constructor(message?: string, cause?: unknown | undefined);
}
/** Connecting and the handshake took longer than `connectTimeoutMs`. */
export declare class ConnectTimeoutError extends KassaError {
}
/** No reply within the call's timeout; a late reply is dropped. */
export declare class RequestTimeoutError extends KassaError {
}
/** The server sent something the protocol does not allow (wrong reply kind, bad Welcome). */
export declare class ProtocolError extends KassaError {
}
