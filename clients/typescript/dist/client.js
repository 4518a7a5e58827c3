// The pipelining client: many requests in flight on one connection, replies matched by request
// id, Busy retried with backoff, dropped connections re-established and unanswered requests
// resent unchanged (kassa's commands are idempotent by client-chosen id).
import { Connection } from "./connection.js";
import { ConnectionClosedError, FrameTooLargeError, KassaError, MalformedFrameError, ProtocolError, RequestTimeoutError, UnauthenticatedError, UnsupportedVersionError, serverError, } from "./errors.js";
import { encodeRequest } from "./messages.js";
import { metadataEntries } from "./types.js";
export const DEFAULT_OPTIONS = {
    connectTimeoutMs: 10000,
    requestTimeoutMs: 30000,
    busyRetries: 8,
    busyBackoffInitialMs: 5,
    busyBackoffMaxMs: 1000,
    reconnect: true,
    reconnectAttempts: 20,
    reconnectBackoffInitialMs: 50,
    reconnectBackoffMaxMs: 2000,
    noDelay: true,
};
/** Exponential backoff with jitter: a random delay in [c/2, c], c = min(max, initial * 2^n). */
export function backoffDelay(attempt, initialMs, maxMs) {
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 32));
    return ceiling / 2 + Math.random() * (ceiling / 2);
}
const isFatal = (error) => error instanceof UnauthenticatedError || error instanceof UnsupportedVersionError;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** A kassa connection; any number of calls may be in flight. Make one with `connect()`. */
export class Client {
    constructor(host, port, apiKey, options) {
        this.host = host;
        this.port = port;
        this.apiKey = apiKey;
        this.options = options;
        this.stats = { busyRetries: 0, reconnects: 0, resent: 0, timeouts: 0 };
        this.nextId = 1;
        this.pending = new Map();
        this.failure = undefined;
        this.reconnecting = false;
    }
    /** Connects and performs the Hello handshake (protocol version 1). Handshake refusals reject
     * with the server's error (UnauthenticatedError, UnsupportedVersionError, BusyError...). */
    static async connect(host, port, apiKey, options = {}) {
        const client = new Client(host, port, apiKey, { ...DEFAULT_OPTIONS, ...options });
        client.connection = await client.openConnection();
        return client;
    }
    get closed() {
        return this.failure !== undefined;
    }
    /** Sends one command; resolves to its Outcome. Invalid values reject with ValidationError
     * and send nothing. `options.metadata` (at most 16 entries; keys of 1..=40 bytes of
     * [A-Za-z0-9._:-]; values of at most 500 characters without control characters) is stored with the
     * transfer, hold, POS settlement, bill or split the command creates; any other command is
     * answered Rejected(MetadataNotSupported). A retry of an id that already applied keeps the
     * first metadata. */
    submit(command, options = {}) {
        const metadata = options.metadata;
        const empty = metadata === undefined || metadata === null || isEmptyMetadata(metadata);
        const body = empty ? { kind: "Submit", command } : { kind: "SubmitWithMetadata", command, metadata };
        return this.call(body, "Outcome", options);
    }
    /** Sends 1..=8190 commands as one engine batch; resolves to their outcomes, in order. */
    submitBatch(commands, options = {}) {
        return this.call({ kind: "Batch", commands }, "Outcomes", options);
    }
    /** Round trip to the server (the engine is not involved). */
    async ping(options = {}) {
        await this.call({ kind: "Ping" }, "Pong", options);
    }
    /** Waits up to `drainMs` for pending calls, rejects the rest with ConnectionClosedError, and
     * closes the connection. */
    async close(drainMs = 5000) {
        const deadline = Date.now() + drainMs;
        while (this.pending.size > 0 && Date.now() < deadline && !this.closed)
            await sleep(5);
        this.shutDown(new ConnectionClosedError("client closed"));
    }
    call(body, expects, options) {
        const requestId = this.nextId++;
        let frame;
        try {
            frame = encodeRequest({ requestId, body }); // ValidationError: nothing is sent
        }
        catch (error) {
            return Promise.reject(error);
        }
        if (this.failure !== undefined) {
            return Promise.reject(new ConnectionClosedError(`client is closed: ${String(this.failure)}`, this.failure));
        }
        return new Promise((resolve, reject) => {
            const call = { requestId, frame, expects, resolve, reject, busyAttempts: 0, state: "queued" };
            this.pending.set(requestId, call);
            const timeoutMs = options.timeoutMs === undefined ? this.options.requestTimeoutMs : options.timeoutMs;
            if (timeoutMs !== null)
                call.timer = setTimeout(() => this.expire(call), timeoutMs);
            if (this.connection !== undefined)
                this.send(call, this.connection);
        });
    }
    send(call, connection) {
        call.state = "sent";
        call.connection = connection;
        connection.send(call.frame);
    }
    finish(call, ok, value) {
        if (this.pending.get(call.requestId) !== call)
            return;
        this.pending.delete(call.requestId);
        clearTimeout(call.timer);
        if (ok)
            call.resolve(value);
        else
            call.reject(value);
    }
    failAll(error) {
        for (const call of [...this.pending.values()])
            this.finish(call, false, error);
    }
    expire(call) {
        if (this.pending.get(call.requestId) !== call)
            return;
        this.stats.timeouts++;
        this.finish(call, false, new RequestTimeoutError(`no reply to request ${call.requestId} in time`));
    }
    // ----- replies ----------------------------------------------------------------------------
    onResponse(connection, response) {
        const requestId = Number(response.requestId);
        const body = response.body;
        if (requestId === 0 && body.kind === "Error") {
            connection.error = serverError(body.code, body.message, 0n); // the server closes next
            return;
        }
        const call = this.pending.get(requestId);
        if (call === undefined)
            return; // a late reply to a call that timed out or was answered
        if (body.kind === "Error")
            return this.onError(call, body);
        if (body.kind !== call.expects) {
            return this.finish(call, false, new ProtocolError(`unexpected reply ${body.kind} to a ${call.expects} request`));
        }
        this.finish(call, true, replyValue(body));
    }
    onError(call, body) {
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
        if (isFatal(error))
            return this.shutDown(error); // e.g. the key was revoked
        this.finish(call, false, error);
    }
    retry(call) {
        if (this.pending.get(call.requestId) !== call || call.state !== "backoff")
            return;
        if (this.connection !== undefined)
            this.send(call, this.connection);
        else
            call.state = "queued";
    }
    // ----- connections ------------------------------------------------------------------------
    openConnection() {
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
    onLost(connection, cause) {
        if (connection !== this.connection)
            return;
        this.connection = undefined;
        this.failUntrusted(connection);
        const error = connection.error ?? cause;
        if (this.failure === undefined && !this.options.reconnect) {
            this.failure = error instanceof KassaError ? error : new ConnectionClosedError("connection closed", error);
        }
        if (this.failure !== undefined)
            return this.failAll(this.failure);
        if (!this.reconnecting)
            void this.reconnectLoop();
    }
    /** After the server refused a frame of this connection as malformed or too large, resending
     * the same frames would fail again: their calls fail with that error. */
    failUntrusted(connection) {
        const error = connection.error;
        if (!(error instanceof MalformedFrameError || error instanceof FrameTooLargeError))
            return;
        for (const call of [...this.pending.values()]) {
            if (call.state === "sent" && call.connection === connection)
                this.finish(call, false, error);
        }
    }
    async reconnectLoop() {
        this.reconnecting = true;
        let failures = 0;
        while (this.failure === undefined) {
            await sleep(backoffDelay(failures, this.options.reconnectBackoffInitialMs, this.options.reconnectBackoffMaxMs));
            if (this.failure !== undefined)
                break;
            try {
                const connection = await this.openConnection();
                if (this.adopt(connection))
                    break;
            }
            catch (error) {
                if (isFatal(error) || ++failures >= this.options.reconnectAttempts) {
                    const reason = isFatal(error) ? error : new ConnectionClosedError(`reconnecting failed ${failures} times`, error);
                    this.shutDown(reason);
                }
            }
        }
        this.reconnecting = false;
    }
    /** Makes `connection` current and resends every unanswered call, in request order. */
    adopt(connection) {
        if (this.failure !== undefined) {
            connection.close();
            return true;
        }
        if (connection.isEnded)
            return false;
        this.connection = connection;
        this.stats.reconnects++;
        const calls = [...this.pending.values()].sort((a, b) => a.requestId - b.requestId);
        for (const call of calls) {
            if (call.state === "backoff")
                continue;
            if (call.state === "sent")
                this.stats.resent++;
            this.send(call, connection);
        }
        return true;
    }
    shutDown(error) {
        if (this.failure === undefined)
            this.failure = error;
        const connection = this.connection;
        this.connection = undefined;
        connection?.close();
        this.failAll(error);
    }
}
/** Whether `metadata` is valid and has no entries (then a plain Submit is sent). */
function isEmptyMetadata(metadata) {
    const { entries, problem } = metadataEntries(metadata);
    return problem === "" && entries.length === 0;
}
function replyValue(body) {
    if (body.kind === "Outcome")
        return body.outcome;
    if (body.kind === "Outcomes")
        return [...body.outcomes];
    return undefined;
}
/** Connects to a kassa server and performs the handshake; see Client.connect. */
export function connect(host, port, apiKey, options = {}) {
    return Client.connect(host, port, apiKey, options);
}
