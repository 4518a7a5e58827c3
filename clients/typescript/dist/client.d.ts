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
export declare const DEFAULT_OPTIONS: ClientOptions;
/** Counters of what the client did on its own. */
export interface ClientStats {
    busyRetries: number;
    reconnects: number;
    resent: number;
    timeouts: number;
}
/** Per-call options. */
export interface CallOptions {
    timeoutMs?: number | null;
}
/** Options of `submit`: CallOptions, and metadata for the transfer, hold, POS settlement, bill
 * or split the command creates (sent as SubmitWithMetadata; null or empty sends a plain Submit). */
export interface SubmitOptions extends CallOptions {
    metadata?: MetadataInput | null;
}
/** Exponential backoff with jitter: a random delay in [c/2, c], c = min(max, initial * 2^n). */
export declare function backoffDelay(attempt: number, initialMs: number, maxMs: number): number;
/** A kassa connection; any number of calls may be in flight. Make one with `connect()`. */
export declare class Client {
    readonly host: string;
    readonly port: number;
    private readonly apiKey;
    readonly options: ClientOptions;
    readonly stats: ClientStats;
    private nextId;
    private readonly pending;
    private connection;
    private failure;
    private reconnecting;
    private constructor();
    /** Connects and performs the Hello handshake (protocol version 1). Handshake refusals reject
     * with the server's error (UnauthenticatedError, UnsupportedVersionError, BusyError...). */
    static connect(host: string, port: number, apiKey: string, options?: Partial<ClientOptions>): Promise<Client>;
    get closed(): boolean;
    /** Sends one command; resolves to its Outcome. Invalid values reject with ValidationError
     * and send nothing. `options.metadata` (at most 16 entries; keys of 1..=40 bytes of
     * [A-Za-z0-9._:-]; values of at most 500 characters without control characters) is stored with the
     * transfer, hold, POS settlement, bill or split the command creates; any other command is
     * answered Rejected(MetadataNotSupported). A retry of an id that already applied keeps the
     * first metadata. */
    submit(command: Command, options?: SubmitOptions): Promise<Outcome>;
    /** Sends 1..=8190 commands as one engine batch; resolves to their outcomes, in order. */
    submitBatch(commands: readonly Command[], options?: CallOptions): Promise<Outcome[]>;
    /** Round trip to the server (the engine is not involved). */
    ping(options?: CallOptions): Promise<void>;
    /** Waits up to `drainMs` for pending calls, rejects the rest with ConnectionClosedError, and
     * closes the connection. */
    close(drainMs?: number): Promise<void>;
    private call;
    private send;
    private finish;
    private failAll;
    private expire;
    private onResponse;
    private onError;
    private retry;
    private openConnection;
    private onLost;
    /** After the server refused a frame of this connection as malformed or too large, resending
     * the same frames would fail again: their calls fail with that error. */
    private failUntrusted;
    private reconnectLoop;
    /** Makes `connection` current and resends every unanswered call, in request order. */
    private adopt;
    private shutDown;
}
/** Connects to a kassa server and performs the handshake; see Client.connect. */
export declare function connect(host: string, port: number, apiKey: string, options?: Partial<ClientOptions>): Promise<Client>;
