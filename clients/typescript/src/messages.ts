// Requests, responses and frames (docs/protocol.md §1, §3). A frame is a u32 big-endian body
// length N (1..=1 MiB), then the body: the codec format version byte 0x01, then the message.

import { Reader, U64, Wire, Writer, struct, taggedEnum, unitEnum, vec } from "./codec.js";
import {
  ERROR_CODES,
  EmptyFrameError,
  ErrorCode,
  OversizeFrameError,
  RequestTooLargeError,
  TrailingBytesError,
  TruncatedError,
  UnknownFormatVersionError,
  ValidationError,
} from "./errors.js";
import { COMMAND_WIRE, METADATA_WIRE, OUTCOME_WIRE, STRING_WIRE, U16_WIRE, U32_WIRE, U64_WIRE } from "./schema.js";
import type { Command, MetadataInput, Outcome } from "./types.js";

export const PROTOCOL_VERSION = 1;
export const FORMAT_VERSION = 0x01;
export const FRAME_BYTES_MAX = 1_048_576;
export const HELLO_BYTES_MAX = 4_096;
export const BATCH_COMMANDS_MAX = 8_190;
export const LENGTH_PREFIX_BYTES = 4;

/** What a request asks: RequestBody 0 Hello, 1 Submit, 2 Batch, 3 Ping, 4 SubmitWithMetadata
 * (one command, answered like Submit, with metadata for the transfer, hold, POS settlement, bill
 * or split it creates; decoded metadata is a plain object). */
export type RequestBody =
  | { kind: "Hello"; protocolVersion: number; apiKey: string }
  | { kind: "Submit"; command: Command }
  | { kind: "Batch"; commands: readonly Command[] }
  | { kind: "Ping" }
  | { kind: "SubmitWithMetadata"; command: Command; metadata: MetadataInput };

/** struct Request { request_id: u64, body: RequestBody }. Decoded ids are bigints. */
export interface Request { requestId: U64; body: RequestBody }

/** What a response carries: ResponseBody 0 Welcome, 1 Outcome, 2 Outcomes, 3 Pong, 4 Error. */
export type ResponseBody =
  | { kind: "Welcome"; protocolVersion: number; frameBytesMax: number }
  | { kind: "Outcome"; outcome: Outcome }
  | { kind: "Outcomes"; outcomes: readonly Outcome[] }
  | { kind: "Pong" }
  | { kind: "Error"; code: ErrorCode; message: string };

/** struct Response { request_id: u64, body: ResponseBody }. */
export interface Response { requestId: U64; body: ResponseBody }

const REQUEST_WIRE: Wire<Request> = struct<Request>("Request", [
  ["requestId", U64_WIRE],
  ["body", taggedEnum<RequestBody>("RequestBody", [
    ["Hello", [["protocolVersion", U16_WIRE], ["apiKey", STRING_WIRE]]],
    ["Submit", [["command", COMMAND_WIRE]]],
    ["Batch", [["commands", vec(COMMAND_WIRE)]]],
    ["Ping", []],
    ["SubmitWithMetadata", [["command", COMMAND_WIRE], ["metadata", METADATA_WIRE]]],
  ])],
]);

const RESPONSE_WIRE: Wire<Response> = struct<Response>("Response", [
  ["requestId", U64_WIRE],
  ["body", taggedEnum<ResponseBody>("ResponseBody", [
    ["Welcome", [["protocolVersion", U16_WIRE], ["frameBytesMax", U32_WIRE]]],
    ["Outcome", [["outcome", OUTCOME_WIRE]]],
    ["Outcomes", [["outcomes", vec(OUTCOME_WIRE)]]],
    ["Pong", []],
    ["Error", [["code", unitEnum("ErrorCode", ERROR_CODES)], ["message", STRING_WIRE]]],
  ])],
]);

function encodeBody<T>(wire: Wire<T>, message: T, name: string): Uint8Array {
  const out = new Writer();
  out.byte(FORMAT_VERSION);
  wire.write(out, message, name);
  return out.result();
}

/** The codec body of a request (0x01, then the message); throws ValidationError for values
 * that may not be sent. */
export function encodeRequestBody(request: Request): Uint8Array {
  return encodeBody(REQUEST_WIRE, request, "Request");
}

/** The codec body of a response (what a server sends; for tests and tools). */
export function encodeResponseBody(response: Response): Uint8Array {
  return encodeBody(RESPONSE_WIRE, response, "Response");
}

/** Prefixes `body` with its u32 big-endian length. */
export function frame(body: Uint8Array): Uint8Array {
  const result = new Uint8Array(LENGTH_PREFIX_BYTES + body.length);
  new DataView(result.buffer).setUint32(0, body.length, false);
  result.set(body, LENGTH_PREFIX_BYTES);
  return result;
}

/** A whole request frame, checked as the server will: batches of 1..=8190 commands, a Hello of
 * at most 4 KiB, any frame of at most 1 MiB. */
export function encodeRequest(request: Request): Uint8Array {
  const body = request.body;
  if (body?.kind === "Batch" && !(body.commands?.length >= 1 && body.commands.length <= BATCH_COMMANDS_MAX)) {
    throw new ValidationError(`a batch holds 1..=${BATCH_COMMANDS_MAX} commands, not ${body.commands?.length}`);
  }
  const encoded = encodeRequestBody(request);
  const limit = body?.kind === "Hello" ? HELLO_BYTES_MAX : FRAME_BYTES_MAX;
  if (encoded.length > limit) {
    throw new RequestTooLargeError(`request of ${encoded.length} bytes exceeds the limit of ${limit} bytes`);
  }
  return frame(encoded);
}

/** A whole response frame. */
export function encodeResponse(response: Response): Uint8Array {
  return frame(encodeResponseBody(response));
}

function decodeBody<T>(wire: Wire<T>, body: Uint8Array): T {
  if (body.length === 0) throw new EmptyFrameError("empty body");
  if (body[0] !== FORMAT_VERSION) {
    throw new UnknownFormatVersionError(`format version byte 0x${body[0].toString(16)}, expected 0x01`);
  }
  const src = new Reader(body.subarray(1));
  const message = wire.read(src);
  if (src.remaining() > 0) throw new TrailingBytesError(`${src.remaining()} bytes left over after the message`);
  return message;
}

/** Decodes a frame body (no length prefix) as a Request, strictly. */
export function decodeRequestBody(body: Uint8Array): Request {
  return decodeBody(REQUEST_WIRE, body);
}

/** Decodes a frame body (no length prefix) as a Response, strictly. */
export function decodeResponseBody(body: Uint8Array): Response {
  return decodeBody(RESPONSE_WIRE, body);
}

/** The body length a 4-byte prefix announces, checked against 1..=limit. */
export function bodyLength(prefix: Uint8Array, limit = FRAME_BYTES_MAX): number {
  if (prefix.length < LENGTH_PREFIX_BYTES) throw new TruncatedError("a length prefix needs 4 bytes");
  const length = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX_BYTES).getUint32(0, false);
  if (length === 0) throw new EmptyFrameError("frame announces an empty body");
  if (length > limit) throw new OversizeFrameError(`frame of ${length} bytes exceeds the limit of ${limit} bytes`);
  return length;
}

function splitWholeFrame(data: Uint8Array): Uint8Array {
  const length = bodyLength(data);
  const end = LENGTH_PREFIX_BYTES + length;
  if (data.length < end) throw new TruncatedError(`frame announces ${length} bytes, ${data.length - 4} present`);
  if (data.length > end) throw new TrailingBytesError(`${data.length - end} bytes after the frame`);
  return data.subarray(LENGTH_PREFIX_BYTES, end);
}

/** Decodes exactly one whole request frame (prefix and body). */
export function decodeRequestFrame(data: Uint8Array): Request {
  return decodeRequestBody(splitWholeFrame(data));
}

/** Decodes exactly one whole response frame (prefix and body). */
export function decodeResponseFrame(data: Uint8Array): Response {
  return decodeResponseBody(splitWholeFrame(data));
}

/** Splits a byte stream into frame bodies; each length is checked before its body is awaited,
 * and nothing is allocated by the announced length. */
export class FrameBuffer {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  constructor(readonly limit = FRAME_BYTES_MAX) {}

  /** Adds received bytes; returns the bodies of the frames now complete. */
  feed(data: Uint8Array): Uint8Array[] {
    if (data.length > 0) (this.chunks.push(data), (this.buffered += data.length));
    const bodies: Uint8Array[] = [];
    while (this.buffered >= LENGTH_PREFIX_BYTES) {
      const length = bodyLength(this.peek(LENGTH_PREFIX_BYTES), this.limit);
      if (this.buffered < LENGTH_PREFIX_BYTES + length) break;
      bodies.push(this.consume(LENGTH_PREFIX_BYTES + length).subarray(LENGTH_PREFIX_BYTES));
    }
    return bodies;
  }

  pendingBytes(): number {
    return this.buffered;
  }

  private peek(count: number): Uint8Array {
    if (this.chunks[0].length < count) this.chunks = [this.concat()];
    return this.chunks[0].subarray(0, count);
  }

  private consume(count: number): Uint8Array {
    if (this.chunks[0].length < count) this.chunks = [this.concat()];
    const first = this.chunks[0];
    const taken = first.slice(0, count);
    if (first.length === count) this.chunks.shift();
    else this.chunks[0] = first.subarray(count);
    this.buffered -= count;
    return taken;
  }

  private concat(): Uint8Array {
    const all = new Uint8Array(this.buffered);
    let offset = 0;
    for (const chunk of this.chunks) (all.set(chunk, offset), (offset += chunk.length));
    return all;
  }
}
