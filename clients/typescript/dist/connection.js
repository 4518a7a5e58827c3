// One TCP connection: connect, Hello/Welcome handshake, then frames both ways. It knows
// nothing about requests: it writes the frames it is given, hands every decoded response to
// `onResponse`, and reports its end once, to `onLost`.
import { createConnection } from "node:net";
import { ConnectTimeoutError, DecodeError, ProtocolError, serverError } from "./errors.js";
import { FrameBuffer, PROTOCOL_VERSION, decodeResponseBody, encodeRequest } from "./messages.js";
/** An open, authenticated connection. */
export class Connection {
    constructor(socket, frames, handlers) {
        this.socket = socket;
        this.frames = frames;
        this.handlers = handlers;
        /** A connection-level server error (request id 0) seen before the end, if any. */
        this.error = undefined;
        this.ended = false;
        this.corked = false;
    }
    /** Connects and performs the handshake; rejects with the server's error (Unauthenticated,
     * UnsupportedVersion, Busy...), a ProtocolError, a DecodeError or a socket error. */
    static open(options, handlers) {
        return new Promise((resolve, reject) => {
            const hello = encodeRequest({
                requestId: options.helloRequestId,
                body: { kind: "Hello", protocolVersion: PROTOCOL_VERSION, apiKey: options.apiKey },
            }); // a ValidationError here rejects before anything is sent
            const socket = createConnection({ host: options.host, port: options.port });
            const frames = new FrameBuffer();
            let settled = false;
            const fail = (error) => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(timer);
                socket.destroy();
                reject(error);
            };
            const timer = setTimeout(() => fail(new ConnectTimeoutError(`no Welcome within ${options.timeoutMs} ms`)), options.timeoutMs);
            socket.on("error", fail);
            socket.on("close", () => fail(new ProtocolError("the server closed the connection during the handshake")));
            socket.once("connect", () => {
                socket.setNoDelay(options.noDelay);
                socket.write(hello);
            });
            socket.on("data", (data) => {
                if (settled)
                    return;
                try {
                    const bodies = frames.feed(new Uint8Array(data.buffer, data.byteOffset, data.length));
                    if (bodies.length === 0)
                        return;
                    checkWelcome(decodeResponseBody(bodies[0]), options.helloRequestId);
                    if (bodies.length > 1)
                        throw new ProtocolError("the server sent frames before it was asked anything");
                }
                catch (error) {
                    return fail(error);
                }
                settled = true;
                clearTimeout(timer);
                socket.removeAllListeners();
                resolve(new Connection(socket, frames, handlers).start());
            });
        });
    }
    start() {
        this.socket.on("data", (data) => this.receive(new Uint8Array(data.buffer, data.byteOffset, data.length)));
        this.socket.on("error", (error) => this.lost(error));
        this.socket.on("close", () => this.lost(undefined));
        return this;
    }
    /** Queues a frame; frames queued in one tick go out together. */
    send(frame) {
        if (this.ended)
            return;
        if (!this.corked) {
            this.corked = true;
            this.socket.cork();
            process.nextTick(() => {
                this.corked = false;
                this.socket.uncork();
            });
        }
        this.socket.write(frame);
    }
    get isEnded() {
        return this.ended;
    }
    /** Closes the socket without reporting a loss. */
    close() {
        this.ended = true;
        this.socket.destroy();
    }
    receive(data) {
        if (this.ended)
            return;
        try {
            for (const body of this.frames.feed(data))
                this.handlers.onResponse(this, decodeResponseBody(body));
        }
        catch (error) {
            const cause = error instanceof DecodeError ? new ProtocolError(`undecodable frame from the server: ${error.message}`) : error;
            this.lost(cause);
            this.socket.destroy();
        }
    }
    lost(cause) {
        if (this.ended)
            return;
        this.ended = true;
        this.handlers.onLost(this, cause);
    }
}
function checkWelcome(response, helloRequestId) {
    const body = response.body;
    if (body.kind === "Error")
        throw serverError(body.code, body.message, BigInt(response.requestId));
    if (body.kind !== "Welcome" || BigInt(response.requestId) !== BigInt(helloRequestId)) {
        throw new ProtocolError(`expected Welcome for request ${helloRequestId}, got ${body.kind}`);
    }
    if (body.protocolVersion !== PROTOCOL_VERSION) {
        throw new ProtocolError(`server speaks protocol version ${body.protocolVersion}`);
    }
}
