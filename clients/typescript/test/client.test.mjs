// The client's behaviour against a scripted server: pipelining, Busy retries, timeouts, error
// mapping, reconnect and resend. Deterministic; no kassa binary needed.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";

import * as k from "../dist/index.js";
import { CLOSE, FakeServer, answer, errorResponse, sleep } from "./helpers.mjs";

const APPLIED = { kind: "Applied", reply: { kind: "Done" } };
const FAST = {
  busyBackoffInitialMs: 1,
  busyBackoffMaxMs: 10,
  reconnectBackoffInitialMs: 10,
  reconnectBackoffMaxMs: 50,
  requestTimeoutMs: 5_000,
};
const healthy = (_, request) => answer(request);
const transfer = (n) => ({ kind: "Transfer", id: `t-${n}`, from: "alice", to: "bob", amount: 1, currency: "EUR" });

/** Starts a fake server with `handler`, connects a client; `run(server, client)`; cleans up. */
async function withServer(handler, options, run) {
  const server = new FakeServer(handler, options.helloError);
  const port = await server.listen();
  const client = options.helloError ? null : await k.connect("127.0.0.1", port, "key", { ...FAST, ...options });
  try {
    await run(server, client, port);
  } finally {
    await client?.close(0);
    await server.stop();
  }
}

describe("handshake", () => {
  for (const [code, errorType] of [["Unauthenticated", k.UnauthenticatedError], ["UnsupportedVersion", k.UnsupportedVersionError], ["Busy", k.BusyError]]) {
    test(`${code} refusal rejects connect`, () =>
      withServer(healthy, { helloError: code }, async (_, __, port) => {
        await assert.rejects(k.connect("127.0.0.1", port, "key", { connectTimeoutMs: 2_000 }), errorType);
      }));
  }
});

describe("connect timeout", () => {
  test("no Welcome in time rejects with ConnectTimeoutError", async () => {
    const accepted = [];
    const silent = createServer((socket) => accepted.push(socket)); // accepts, never answers
    await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      await assert.rejects(k.connect("127.0.0.1", silent.address().port, "key", { connectTimeoutMs: 300 }), k.ConnectTimeoutError);
    } finally {
      accepted.forEach((socket) => socket.destroy());
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("pipelining", () => {
  test("replies in any order are matched by request id", () => {
    const held = [];
    const reverseInTens = (_, request) => {
      held.push(request);
      if (held.length < 10) return [];
      const replies = held.reverse().map((r) => ({
        requestId: r.requestId,
        body: { kind: "Outcome", outcome: { kind: "Rejected", rejection: k.REJECTIONS[Number(r.body.command.id.slice(2))] } },
      }));
      held.length = 0;
      return replies;
    };
    return withServer(reverseInTens, {}, async (_, client) => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, n) => client.submit(transfer(n))));
      assert.deepEqual(results, k.REJECTIONS.slice(0, 50).map((rejection) => ({ kind: "Rejected", rejection })));
    });
  });

  test("batch and ping", () =>
    withServer(healthy, {}, async (_, client) => {
      assert.deepEqual(await client.submitBatch([transfer(1), { kind: "Tick" }]), [APPLIED, APPLIED]);
      assert.equal(await client.ping(), undefined);
    }));

  test("invalid values reject before anything is sent", () =>
    withServer(healthy, {}, async (server, client) => {
      await assert.rejects(client.submit({ ...transfer(1), id: "bad id" }), k.ValidationError);
      await assert.rejects(client.submitBatch([]), k.ValidationError);
      await client.ping();
      assert.equal(server.requests.length, 1);
    }));
});

describe("metadata", () => {
  const invalid = [
    Object.fromEntries(Array.from({ length: 17 }, (_, n) => [`k${n}`, "v"])), // 17 entries
    { "": "v" }, // empty key
    { "has space": "v" },
    { ["k".repeat(41)]: "v" }, // 41-byte key
    [["k", "1"], ["k", "2"]], // the same key twice
    { k: "v".repeat(501) }, // 501-byte value
    { k: "line\nbreak" },
  ];

  test("is sent with the command; empty sends a plain Submit", () =>
    withServer(healthy, {}, async (server, client) => {
      assert.deepEqual(await client.submit(transfer(1), { metadata: { order_id: "A-1", channel: "web" } }), APPLIED);
      assert.deepEqual(await client.submit(transfer(2), { metadata: [["order_id", "A-2"]], timeoutMs: 5_000 }), APPLIED);
      assert.deepEqual(await client.submit(transfer(3), { metadata: {} }), APPLIED);
      assert.deepEqual(await client.submit(transfer(4), { metadata: null }), APPLIED);
      const bigints = (command) => ({ ...command, amount: BigInt(command.amount) });
      assert.deepEqual(server.requests.map(([, request]) => request.body), [
        { kind: "SubmitWithMetadata", command: bigints(transfer(1)), metadata: { channel: "web", order_id: "A-1" } },
        { kind: "SubmitWithMetadata", command: bigints(transfer(2)), metadata: { order_id: "A-2" } },
        { kind: "Submit", command: bigints(transfer(3)) },
        { kind: "Submit", command: bigints(transfer(4)) },
      ]);
    }));

  test("invalid metadata rejects before anything is sent", () =>
    withServer(healthy, {}, async (server, client) => {
      for (const metadata of invalid) await assert.rejects(client.submit(transfer(1), { metadata }), k.ValidationError);
      await client.ping();
      assert.deepEqual(server.requests.map(([, request]) => request.body.kind), ["Ping"]);
    }));

  test("Busy retries and resends after reconnecting keep the metadata", () => {
    let server;
    const busyThenDrop = (number, request) => {
      if (number === 1) return server.requests.length === 1 ? [errorResponse(request.requestId, "Busy")] : [CLOSE];
      return answer(request);
    };
    return withServer(busyThenDrop, {}, async (s, client) => {
      server = s;
      assert.deepEqual(await client.submit(transfer(1), { metadata: { order_id: "A-1" } }), APPLIED);
      assert.deepEqual(server.requests.map(([number]) => number), [1, 1, 2]);
      assert.equal(new Set(server.rawFrames).size, 1); // the same frame, metadata included
      assert.deepEqual(server.requests[2][1].body.metadata, { order_id: "A-1" });
      assert.deepEqual([client.stats.busyRetries, client.stats.reconnects, client.stats.resent], [1, 1, 1]);
    });
  });
});

describe("Busy", () => {
  test("is retried with the same frame", () => {
    let server;
    const busyThreeTimes = (_, request) => (server.requests.length <= 3 ? [errorResponse(request.requestId, "Busy")] : answer(request));
    return withServer(busyThreeTimes, {}, async (s, client) => {
      server = s;
      assert.deepEqual(await client.submit(transfer(1)), APPLIED);
      assert.equal(server.requests.length, 4);
      assert.equal(new Set(server.rawFrames).size, 1);
      assert.equal(client.stats.busyRetries, 3);
    });
  });

  test("beyond the limit rejects with BusyError", () =>
    withServer((_, r) => [errorResponse(r.requestId, "Busy")], { busyRetries: 2 }, async (server, client) => {
      await assert.rejects(client.submit(transfer(1)), k.BusyError);
      assert.equal(server.requests.length, 3);
    }));
});

describe("errors", () => {
  test("request errors fail only their call", () => {
    const codes = { "t-1": ["InvalidBatch", k.InvalidBatchError], "t-2": ["FrameTooLarge", k.FrameTooLargeError], "t-3": ["StorageFailed", k.StorageFailedError] };
    const scripted = (_, request) => {
      const code = codes[request.body.command?.id];
      return code ? [errorResponse(request.requestId, code[0], "detail")] : answer(request);
    };
    return withServer(scripted, {}, async (_, client) => {
      for (const [number, [code, errorType]] of Object.values(codes).entries()) {
        await assert.rejects(client.submit(transfer(number + 1)), (error) => error instanceof errorType && error.code === code && error.serverMessage === "detail");
      }
      assert.deepEqual(await client.submit(transfer(9)), APPLIED);
    });
  });

  test("a wrong reply kind is a protocol error", () =>
    withServer((_, r) => [{ requestId: r.requestId, body: { kind: "Pong" } }], {}, async (_, client) => {
      await assert.rejects(client.submit(transfer(1)), k.ProtocolError);
    }));

  test("a revoked key fails everything and closes the client", () =>
    withServer((_, r) => [errorResponse(r.requestId, "Unauthenticated")], {}, async (_, client) => {
      await assert.rejects(client.submit(transfer(1)), k.UnauthenticatedError);
      assert.ok(client.closed);
      await assert.rejects(client.ping(), k.ConnectionClosedError);
    }));
});

describe("timeouts", () => {
  test("a call times out and its late reply is dropped", () => {
    const late = [];
    const slowFirst = (_, request) => {
      if (late.length === 0) return (late.push(request), []);
      const expired = { requestId: late[0].requestId, body: { kind: "Outcome", outcome: { kind: "Rejected", rejection: "Expired" } } };
      return [expired, ...answer(request)];
    };
    return withServer(slowFirst, {}, async (_, client) => {
      const started = Date.now();
      await assert.rejects(client.submit(transfer(1), { timeoutMs: 200 }), k.RequestTimeoutError);
      assert.ok(Date.now() - started < 2_000);
      assert.deepEqual(await client.submit(transfer(2)), APPLIED);
      assert.equal(client.stats.timeouts, 1);
    });
  });
});

describe("reconnect", () => {
  test("a dropped connection is re-established and unanswered requests resent", () => {
    let server;
    const dropFirst = (number, request) => {
      if (number === 1) return server.requests.length === 5 ? [CLOSE] : [];
      return answer(request);
    };
    return withServer(dropFirst, {}, async (s, client) => {
      server = s;
      const results = await Promise.all(Array.from({ length: 5 }, (_, n) => client.submit(transfer(n))));
      assert.deepEqual(results, Array(5).fill(APPLIED));
      const first = server.requests.filter(([n]) => n === 1).map(([, r]) => r.body);
      const resent = server.requests.filter(([n]) => n === 2).map(([, r]) => r.body);
      assert.deepEqual(resent, first);
      assert.equal(server.connections, 2);
      assert.equal(client.stats.resent, 5);
    });
  });

  test("without reconnect pending calls fail", () =>
    withServer(() => [CLOSE], { reconnect: false }, async (_, client) => {
      await assert.rejects(client.submit(transfer(1)), k.ConnectionClosedError);
      assert.ok(client.closed);
    }));

  test("gives up after the attempt limit", () =>
    withServer(() => [CLOSE], { reconnectAttempts: 2 }, async (server, client) => {
      await server.stop();
      await assert.rejects(client.submit(transfer(1)), k.ConnectionClosedError);
    }));

  test("a MalformedFrame error fails the sent calls instead of resending them", () =>
    withServer((number, r) => (number === 1 ? [errorResponse(0, "MalformedFrame"), CLOSE] : answer(r)), {}, async (_, client) => {
      await assert.rejects(client.submit(transfer(1)), k.MalformedFrameError);
    }));

  test("ShuttingDown is resent after reconnecting", () =>
    withServer((number, r) => (number === 1 ? [errorResponse(r.requestId, "ShuttingDown")] : answer(r)), {}, async (server, client) => {
      const result = client.submit(transfer(1));
      await sleep(100);
      server.stopConnections();
      assert.deepEqual(await result, APPLIED);
    }));
});
