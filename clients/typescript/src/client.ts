// The pipelining client: many requests in flight on one connection, replies matched by request
// id, Busy retried with backoff, dropped connections re-established and unanswered requests
// resent unchanged (kassa's commands are idempotent by client-chosen id).

import { Connection } from "./connection.js";
import {
  ConnectionClosedError,
  FrameTooLargeError,
  KassaError,
  MalformedFrameError,
  ProtocolError,
  RequestTimeoutError,
  UnauthenticatedError,
  UnsupportedVersionError,
  serverError,
} from "./errors.js";
import { RequestBody, Response, ResponseBody, encodeRequest } from "./messages.js";
import { metadataEntries } from "./types.js";
import type { Command, MetadataInput, Outcome } from "./types.js";

/** Tuning of a Client; times in milliseconds. */
export interface ClientOptions {
  /** Limit for TCP connect plus handshake, per attempt (10 000). */
  connectTimeoutMs: number;
  /** Default per-call timeout; null waits for ever (30 000). */
  requestTimeoutMs: number | null;
  /** Resends of a request answered Busy before the call rejects with BusyError (8). */
  busyRetries: number;
  busyBackoffInitialMs: number;
  busyBackoffMaxMs: number;
  /** Re-establish a dropped connection and resend every unanswered request (true). */
  reconnect: boolean;
  /** Consecutive failed connection attempts before every pending call fails (20). */
  reconnectAttempts: number;
  reconnectBackoffInitialMs: number;
  reconnectBackoffMaxMs: number;
  noDelay: boolean;
}

export const DEFAULT_OPTIONS: ClientOptions = {
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  busyRetries: 8,
  busyBackoffInitialMs: 5,
  busyBackoffMaxMs: 1_000,
  reconnect: true,
  reconnectAttempts: 20,
  reconnectBackoffInitialMs: 50,
  reconnectBackoffMaxMs: 2_000,
  noDelay: true,
};

/** Counters of what the client did on its own. */
export interface ClientStats { busyRetries: number; reconnects: number; resent: number; timeouts: number }

/** Per-call options. */
export interface CallOptions { timeoutMs?: number | null }

/** Options of `submit`: CallOptions, and metadata for the transfer, hold, POS settlement, bill
 * or split the command creates (sent as SubmitWithMetadata; null or empty sends a plain Submit). */
export interface SubmitOptions extends CallOptions { metadata?: MetadataInput | null }

/** Exponential backoff with jitter: a random delay in [c/2, c], c = min(max, initial * 2^n). */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 32));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

type Expects = "Outcome" | "Outcomes" | "Pong";
type CallState = "queued" | "sent" | "backoff";

interface Call {
  requestId: number;
  frame: Uint8Array;
  expects: Expects;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  timer?: NodeTimer;
  busyAttempts: number;
  state: CallState;
  connection?: Connection;
}

const isFatal = (error: unknown) => error instanceof UnauthenticatedError || error instanceof UnsupportedVersionError;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A kassa connection; any number of calls may be in flight. Make one with `connect()`. */
export class Client {
  readonly stats: ClientStats = { busyRetries: 0, reconnects: 0, resent: 0, timeouts: 0 };
  private nextId = 1;
  private readonly pending = new Map<number, Call>();
  private connection: Connection | undefined;
  private failure: unknown = undefined;
  private reconnecting = false;

  private constructor(
    readonly host: string,
    readonly port: number,
    private readonly apiKey: string,
    readonly options: ClientOptions,
  ) {}

  /** Connects and performs the Hello handshake (protocol version 1). Handshake refusals reject
   * with the server's error (UnauthenticatedError, UnsupportedVersionError, BusyError...). */
  static async connect(host: string, port: number, apiKey: string, options: Partial<ClientOptions> = {}): Promise<Client> {
    const client = new Client(host, port, apiKey, { ...DEFAULT_OPTIONS, ...options });
    client.connection = await client.openConnection();
    return client;
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Sends one command; resolves to its Outcome. Invalid values reject with ValidationError
   * and send nothing. `options.metadata` (at most 16 entries; keys of 1..=40 bytes of
   * [A-Za-z0-9._:-]; values of at most 500 characters without control characters) is stored with the
   * transfer, hold, POS settlement, bill or split the command creates; any other command is
   * answered Rejected(MetadataNotSupported). A retry of an id that already applied keeps the
   * first metadata. */
  submit(command: Command, options: SubmitOptions = {}): Promise<Outcome> {
    const metadata = options.metadata;
    const empty = metadata === undefined || metadata === null || isEmptyMetadata(metadata);
    const body: RequestBody = empty ? { kind: "Submit", command } : { kind: "SubmitWithMetadata", command, metadata };
    return this.call(body, "Outcome", options) as Promise<Outcome>;
  }

  /** Sends 1..=8190 commands as one engine batch; resolves to their outcomes, in order. */
  submitBatch(commands: readonly Command[], options: CallOptions = {}): Promise<Outcome[]> {
    return this.call({ kind: "Batch", commands }, "Outcomes", options) as Promise<Outcome[]>;
  }

  /** Round trip to the server (the engine is not involved). */
  async ping(options: CallOptions = {}): Promise<void> {
    await this.call({ kind: "Ping" }, "Pong", options);
  }

  /** Waits up to `drainMs` for pending calls, rejects the rest with ConnectionClosedError, and
   * closes the connection. */
  async close(drainMs = 5_000): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.pending.size > 0 && Date.now() < deadline && !this.closed) await sleep(5);
    this.shutDown(new ConnectionClosedError("client closed"));
  }

  private call(body: RequestBody, expects: Expects, options: CallOptions): Promise<unknown> {
    const requestId = this.nextId++;
    let frame: Uint8Array;
    try {
      frame = encodeRequest({ requestId, body }); // ValidationError: nothing is sent
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.failure !== undefined) {
      return Promise.reject(new ConnectionClosedError(`client is closed: ${String(this.failure)}`, this.failure));
    }
    return new Promise((resolve, reject) => {
      const call: Call = { requestId, frame, expects, resolve, reject, busyAttempts: 0, state: "queued" };
      this.pending.set(requestId, call);
      const timeoutMs = options.timeoutMs === undefined ? this.options.requestTimeoutMs : options.timeoutMs;
      if (timeoutMs !== null) call.timer = setTimeout(() => this.expire(call), timeoutMs);
      if (this.connection !== undefined) this.send(call, this.connection);
    });
  }

  private send(call: Call, connection: Connection): void {
    call.state = "sent";
    call.connection = connection;
    connection.send(call.frame);
  }

  private finish(call: Call, ok: boolean, value: unknown): void {
    if (this.pending.get(call.requestId) !== call) return;
    this.pending.delete(call.requestId);
    clearTimeout(call.timer);
    if (ok) call.resolve(value);
    else call.reject(value);
  }

  private failAll(error: unknown): void {
    for (const call of [...this.pending.values()]) this.finish(call, false, error);
  }

  private expire(call: Call): void {
    if (this.pending.get(call.requestId) !== call) return;
    this.stats.timeouts++;
    this.finish(call, false, new RequestTimeoutError(`no reply to request ${call.requestId} in time`));
  }

  // ----- replies ----------------------------------------------------------------------------

  private onResponse(connection: Connection, response: Response): void {
    const requestId = Number(response.requestId);
    const body = response.body;
    if (requestId === 0 && body.kind === "Error") {
      connection.error = serverError(body.code, body.message, 0n); // the server closes next
      return;
    }
    const call = this.pending.get(requestId);
    if (call === undefined) return; // a late reply to a call that timed out or was answered
    if (body.kind === "Error") return this.onError(call, body);
    if (body.kind !== call.expects) {
      return this.finish(call, false, new ProtocolError(`unexpected reply ${body.kind} to a ${call.expects} request`));
    }
    this.finish(call, true, replyValue(body));
  }

  private onError(call: Call, body: Extract<ResponseBody, { kind: "Error" }>): void {
    const error = serverError(body.code, body.message, BigInt(call.requestId));
    if (body.code === "Busy" && call.busyAttempts < this.options.busyRetries) {
      const delay = backoffDelay(call.busyAttempts, this.options.busyBackoffInitialMs, this.options.busyBackoffMaxMs);
      call.busyAttempts++;
      this.stats.busyRetries++;
      call.state = "backoff";
      setTimeout(() => this.retry(call), delay);
      return;
    }
    if (body.code === "ShuttingDown" && this.options.reconnect) {
      call.state = "queued"; // not applied: resend once connected to the restarted server
      return;
    }
    if (isFatal(error)) return this.shutDown(error); // e.g. the key was revoked
    this.finish(call, false, error);
  }

  private retry(call: Call): void {
    if (this.pending.get(call.requestId) !== call || call.state !== "backoff") return;
    if (this.connection !== undefined) this.send(call, this.connection);
    else call.state = "queued";
  }

  // ----- connections ------------------------------------------------------------------------

  private openConnection(): Promise<Connection> {
    const options = {
      host: this.host,
      port: this.port,
      apiKey: this.apiKey,
      helloRequestId: this.nextId++,
      timeoutMs: this.options.connectTimeoutMs,
      noDelay: this.options.noDelay,
    };
    return Connection.open(options, {
      onResponse: (connection, response) => this.onResponse(connection, response),
      onLost: (connection, cause) => this.onLost(connection, cause),
    });
  }

  private onLost(connection: Connection, cause: unknown): void {
    if (connection !== this.connection) return;
    this.connection = undefined;
    this.failUntrusted(connection);
    const error = connection.error ?? cause;
    if (this.failure === undefined && !this.options.reconnect) {
      this.failure = error instanceof KassaError ? error : new ConnectionClosedError("connection closed", error);
    }
    if (this.failure !== undefined) return this.failAll(this.failure);
    if (!this.reconnecting) void this.reconnectLoop();
  }

  /** After the server refused a frame of this connection as malformed or too large, resending
   * the same frames would fail again: their calls fail with that error. */
  private failUntrusted(connection: Connection): void {
    const error = connection.error;
    if (!(error instanceof MalformedFrameError || error instanceof FrameTooLargeError)) return;
    for (const call of [...this.pending.values()]) {
      if (call.state === "sent" && call.connection === connection) this.finish(call, false, error);
    }
  }

  private async reconnectLoop(): Promise<void> {
    this.reconnecting = true;
    let failures = 0;
    while (this.failure === undefined) {
      await sleep(backoffDelay(failures, this.options.reconnectBackoffInitialMs, this.options.reconnectBackoffMaxMs));
      if (this.failure !== undefined) break;
      try {
        const connection = await this.openConnection();
        if (this.adopt(connection)) break;
      } catch (error) {
        if (isFatal(error) || ++failures >= this.options.reconnectAttempts) {
          const reason = isFatal(error) ? error : new ConnectionClosedError(`reconnecting failed ${failures} times`, error);
          this.shutDown(reason);
        }
      }
    }
    this.reconnecting = false;
  }

  /** Makes `connection` current and resends every unanswered call, in request order. */
  private adopt(connection: Connection): boolean {
    if (this.failure !== undefined) {
      connection.close();
      return true;
    }
    if (connection.isEnded) return false;
    this.connection = connection;
    this.stats.reconnects++;
    const calls = [...this.pending.values()].sort((a, b) => a.requestId - b.requestId);
    for (const call of calls) {
      if (call.state === "backoff") continue;
      if (call.state === "sent") this.stats.resent++;
      this.send(call, connection);
    }
    return true;
  }

  private shutDown(error: unknown): void {
    if (this.failure === undefined) this.failure = error;
    const connection = this.connection;
    this.connection = undefined;
    connection?.close();
    this.failAll(error);
  }
}

/** Whether `metadata` is valid and has no entries (then a plain Submit is sent). */
function isEmptyMetadata(metadata: unknown): boolean {
  const { entries, problem } = metadataEntries(metadata);
  return problem === "" && entries.length === 0;
}

function replyValue(body: ResponseBody): unknown {
  if (body.kind === "Outcome") return body.outcome;
  if (body.kind === "Outcomes") return [...body.outcomes];
  return undefined;
}

/** Connects to a kassa server and performs the handshake; see Client.connect. */
export function connect(host: string, port: number, apiKey: string, options: Partial<ClientOptions> = {}): Promise<Client> {
  return Client.connect(host, port, apiKey, options);
}
