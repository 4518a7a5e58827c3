// Test helpers: hex, a scripted fake server, and a real `kassa serve` ($KASSA_BIN) on loopback.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, chmodSync, openSync, closeSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as k from "../dist/index.js";

export const ADMIN_KEY = "test-admin-key-0123456789";
export const CLOSE = "close";

export function unhex(text) {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

export function hex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or `fallback` after `ms` milliseconds, whichever comes first (the timer is cleared). */
export async function within(promise, ms, fallback = undefined) {
  let timer;
  const deadline = new Promise((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A scripted stand-in for kassa: answers Hello with Welcome (or `helloError`), then hands each
 * request to `handler(connectionNumber, request)`, which returns responses to send (a CLOSE in
 * the list drops the connection there). */
export class FakeServer {
  constructor(handler, helloError = null) {
    this.handler = handler;
    this.helloError = helloError;
    this.requests = [];
    this.rawFrames = [];
    this.connections = 0;
    this.sockets = new Set();
    this.server = createServer((socket) => this.serve(socket));
  }

  listen() {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", () => resolve(this.server.address().port)));
  }

  stopConnections() {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  stop() {
    this.stopConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  serve(socket) {
    const number = ++this.connections;
    this.sockets.add(socket);
    const frames = new k.FrameBuffer();
    let welcomed = false;
    socket.on("error", () => {});
    socket.on("data", (data) => {
      for (const body of frames.feed(new Uint8Array(data))) {
        const request = k.decodeRequestBody(body);
        if (!welcomed) {
          welcomed = true;
          if (this.helloError) {
            socket.end(k.encodeResponse(errorResponse(request.requestId, this.helloError)));
            return;
          }
          socket.write(k.encodeResponse({ requestId: request.requestId, body: { kind: "Welcome", protocolVersion: 1, frameBytesMax: 1048576 } }));
          continue;
        }
        this.requests.push([number, request]);
        this.rawFrames.push(hex(body));
        for (const response of this.handler(number, request)) {
          if (response === CLOSE) return void socket.destroy();
          socket.write(k.encodeResponse(response));
        }
      }
    });
  }
}

export function errorResponse(requestId, code, message = "scripted") {
  return { requestId, body: { kind: "Error", code, message } };
}

/** What a healthy server answers. */
export function answer(request) {
  const body = request.body;
  const applied = { kind: "Applied", reply: { kind: "Done" } };
  if (body.kind === "Submit" || body.kind === "SubmitWithMetadata") return [{ requestId: request.requestId, body: { kind: "Outcome", outcome: applied } }];
  if (body.kind === "Batch") {
    return [{ requestId: request.requestId, body: { kind: "Outcomes", outcomes: body.commands.map(() => applied) } }];
  }
  return [{ requestId: request.requestId, body: { kind: "Pong" } }];
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One `kassa serve` process with its data directory and ports (kept across restarts). */
export class KassaServer {
  static async create(binary, extraArgs = []) {
    const server = new KassaServer(binary, extraArgs);
    server.httpPort = await freePort();
    server.tcpPort = await freePort();
    server.isoPort = await freePort();
    return server;
  }

  constructor(binary, extraArgs) {
    this.binary = binary;
    this.extraArgs = extraArgs;
    this.root = mkdtempSync(join(tmpdir(), "kassa-ts-test-"));
    chmodSync(this.root, 0o700);
    this.logPath = join(this.root, "server.log");
    this.process = null;
  }

  async start(timeoutMs = 30_000) {
    const args = [
      "serve", "--data-dir", join(this.root, "data"), "--admin-key", ADMIN_KEY,
      "--http", `127.0.0.1:${this.httpPort}`, "--tcp", `127.0.0.1:${this.tcpPort}`,
      "--iso8583", `127.0.0.1:${this.isoPort}`, "--ids-max", "1048576", ...this.extraArgs,
    ];
    const log = openSync(this.logPath, "a");
    this.process = spawn(this.binary, args, { stdio: ["ignore", log, log] });
    closeSync(log);
    const exited = new Promise((resolve) => this.process.once("exit", resolve));
    this.exited = exited;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) throw new Error(`kassa exited: ${this.logTail()}`);
      if (await this.healthy()) return;
      await sleep(50);
    }
    await this.stop();
    throw new Error(`kassa did not become healthy: ${this.logTail()}`);
  }

  async healthy() {
    try {
      return (await this.http("GET", "/ready", undefined, null)).status === 200;
    } catch {
      return false;
    }
  }

  /** SIGSTOP: the process keeps its sockets but answers nothing (until killed). */
  freeze() {
    if (this.running()) this.process.kill("SIGSTOP");
  }

  async kill() {
    if (this.running()) {
      this.process.kill("SIGKILL");
      await this.exited;
    }
  }

  async stop() {
    if (!this.running()) return;
    this.process.kill("SIGTERM");
    const timedOut = await within(this.exited.then(() => false), 5_000, true);
    if (timedOut) await this.kill();
  }

  running() {
    return this.process !== null && this.process.exitCode === null && this.process.signalCode === null;
  }

  async cleanup() {
    await this.stop();
    rmSync(this.root, { recursive: true, force: true });
  }

  logTail() {
    try {
      return readFileSync(this.logPath, "utf8").slice(-2000);
    } catch {
      return "";
    }
  }

  async http(method, path, body, key = ADMIN_KEY) {
    const headers = { "content-type": "application/json" };
    if (key) headers.authorization = `Bearer ${key}`;
    const response = await fetch(`http://127.0.0.1:${this.httpPort}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, body: text.startsWith("{") ? JSON.parse(text) : text };
  }

  async balance(account) {
    const { status, body } = await this.http("GET", `/v1/accounts/${account}`);
    if (status !== 200) throw new Error(`GET /v1/accounts/${account} -> ${status} ${JSON.stringify(body)}`);
    return body.balance;
  }
}
