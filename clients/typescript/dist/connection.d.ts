import { Response } from "./messages.js";
export interface ConnectionHandlers {
    onResponse(connection: Connection, response: Response): void;
    onLost(connection: Connection, cause: unknown): void;
}
export interface OpenOptions {
    host: string;
    port: number;
    apiKey: string;
    helloRequestId: number;
    timeoutMs: number;
    noDelay: boolean;
}
/** An open, authenticated connection. */
export declare class Connection {
    private readonly socket;
    private readonly frames;
    private readonly handlers;
    /** A connection-level server error (request id 0) seen before the end, if any. */
    error: unknown;
    private ended;
    private corked;
    private constructor();
    /** Connects and performs the handshake; rejects with the server's error (Unauthenticated,
     * UnsupportedVersion, Busy...), a ProtocolError, a DecodeError or a socket error. */
    static open(options: OpenOptions, handlers: ConnectionHandlers): Promise<Connection>;
    private start;
    /** Queues a frame; frames queued in one tick go out together. */
    send(frame: Uint8Array): void;
    get isEnded(): boolean;
    /** Closes the socket without reporting a loss. */
    close(): void;
    private receive;
    private lost;
}
