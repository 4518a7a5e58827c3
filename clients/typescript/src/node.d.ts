// The few Node APIs this client uses, declared here so that building needs only `typescript`
// (no @types/node). They match Node >= 18.

declare module "node:net" {
  export class Socket {
    setNoDelay(noDelay?: boolean): this;
    write(data: Uint8Array): boolean;
    cork(): void;
    uncork(): void;
    end(): this;
    destroy(error?: Error): this;
    readonly destroyed: boolean;
    on(event: "data", listener: (data: Uint8Array) => void): this;
    on(event: "close", listener: (hadError: boolean) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: "connect", listener: () => void): this;
    once(event: "connect", listener: () => void): this;
    removeAllListeners(event?: string): this;
  }
  export function createConnection(options: { host: string; port: number }): Socket;
}

interface NodeTimer {
  unref(): NodeTimer;
}

declare function setTimeout(callback: () => void, ms: number): NodeTimer;
declare function clearTimeout(timer: NodeTimer | undefined): void;

declare const process: { nextTick(callback: () => void): void };

declare class TextEncoder {
  encode(text: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label: string, options?: { fatal?: boolean });
  decode(bytes: Uint8Array): string;
}
