import { U64 } from "./codec.js";
import { ErrorCode } from "./errors.js";
import type { Command, MetadataInput, Outcome } from "./types.js";
export declare const PROTOCOL_VERSION = 1;
export declare const FORMAT_VERSION = 1;
export declare const FRAME_BYTES_MAX = 1048576;
export declare const HELLO_BYTES_MAX = 4096;
export declare const BATCH_COMMANDS_MAX = 8190;
export declare const LENGTH_PREFIX_BYTES = 4;
/** What a request asks: RequestBody 0 Hello, 1 Submit, 2 Batch, 3 Ping, 4 SubmitWithMetadata
 * (one command, answered like Submit, with metadata for the transfer, hold, POS settlement, bill
 * or split it creates; decoded metadata is a plain object). */
export type RequestBody = {
    kind: "Hello";
    protocolVersion: number;
    apiKey: string;
} | {
    kind: "Submit";
    command: Command;
} | {
    kind: "Batch";
    commands: readonly Command[];
} | {
    kind: "Ping";
} | {
    kind: "SubmitWithMetadata";
    command: Command;
    metadata: MetadataInput;
};
/** struct Request { request_id: u64, body: RequestBody }. Decoded ids are bigints. */
export interface Request {
    requestId: U64;
    body: RequestBody;
}
/** What a response carries: ResponseBody 0 Welcome, 1 Outcome, 2 Outcomes, 3 Pong, 4 Error. */
export type ResponseBody = {
    kind: "Welcome";
    protocolVersion: number;
    frameBytesMax: number;
} | {
    kind: "Outcome";
    outcome: Outcome;
} | {
    kind: "Outcomes";
    outcomes: readonly Outcome[];
} | {
    kind: "Pong";
} | {
    kind: "Error";
    code: ErrorCode;
    message: string;
};
/** struct Response { request_id: u64, body: ResponseBody }. */
export interface Response {
    requestId: U64;
    body: ResponseBody;
}
/** The codec body of a request (0x01, then the message); throws ValidationError for values
 * that may not be sent. */
export declare function encodeRequestBody(request: Request): Uint8Array;
/** The codec body of a response (what a server sends; for tests and tools). */
export declare function encodeResponseBody(response: Response): Uint8Array;
/** Prefixes `body` with its u32 big-endian length. */
export declare function frame(body: Uint8Array): Uint8Array;
/** A whole request frame, checked as the server will: batches of 1..=8190 commands, a Hello of
 * at most 4 KiB, any frame of at most 1 MiB. */
export declare function encodeRequest(request: Request): Uint8Array;
/** A whole response frame. */
export declare function encodeResponse(response: Response): Uint8Array;
/** Decodes a frame body (no length prefix) as a Request, strictly. */
export declare function decodeRequestBody(body: Uint8Array): Request;
/** Decodes a frame body (no length prefix) as a Response, strictly. */
export declare function decodeResponseBody(body: Uint8Array): Response;
/** The body length a 4-byte prefix announces, checked against 1..=limit. */
export declare function bodyLength(prefix: Uint8Array, limit?: number): number;
/** Decodes exactly one whole request frame (prefix and body). */
export declare function decodeRequestFrame(data: Uint8Array): Request;
/** Decodes exactly one whole response frame (prefix and body). */
export declare function decodeResponseFrame(data: Uint8Array): Response;
/** Splits a byte stream into frame bodies; each length is checked before its body is awaited,
 * and nothing is allocated by the announced length. */
export declare class FrameBuffer {
    readonly limit: number;
    private chunks;
    private buffered;
    constructor(limit?: number);
    /** Adds received bytes; returns the bodies of the frames now complete. */
    feed(data: Uint8Array): Uint8Array[];
    pendingBytes(): number;
    private peek;
    private consume;
    private concat;
}
