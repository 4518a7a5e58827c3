// End to end against a real `kassa serve` ($KASSA_BIN): accounts, pipelined transfers,
// batches, idempotent repeats, metadata, rejections, tenants, Busy, and a SIGKILL + restart
// mid-stream.
// Skipped when KASSA_BIN is not set (run-tests.sh always sets it).

import assert from "node:assert/strict";
import { accessSync, constants } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { after, before, describe, test } from "node:test";

import * as k from "../dist/index.js";
import { ADMIN_KEY, KassaServer, sleep, within } from "./helpers.mjs";

const APPLIED = { kind: "Applied", reply: { kind: "Done" } };
const binary = process.env.KASSA_BIN;
const hasBinary = (() => {
  try {
    return Boolean(binary) && (accessSync(binary, constants.X_OK), true);
  } catch {
    return false;
  }
})();
const skip = hasBinary ? false : "KASSA_BIN is not set to a kassa binary";

const transfer = (id, from, to, amount) => ({ kind: "Transfer", id, from, to, amount, currency: "EUR" });

/** Runs `body(context)` as a suite with its own server; `context.connect(key, options)`. */
function liveSuite(name, extraArgs, body) {
  describe(name, { skip }, () => {
    const context = { clients: [] };
    before(async () => {
      context.server = await KassaServer.create(binary, extraArgs);
      await context.server.start();
    });
    after(async () => {
      await Promise.all(context.clients.map((client) => client.close(1_000)));
      await context.server.cleanup();
    });
    context.connect = async (key = ADMIN_KEY, options = {}) => {
      const client = await k.connect("127.0.0.1", context.server.tcpPort, key, options);
      context.clients.push(client);
      return client;
    };
    context.openPair = async (client, prefix, deposit) => {
      const [a, b] = [`${prefix}-a`, `${prefix}-b`];
      const outcomes = await client.submitBatch([
        { kind: "OpenAccount", account: a, currency: "EUR", overdraftLimit: 0 },
        { kind: "OpenAccount", account: b, currency: "EUR", overdraftLimit: 0 },
        { kind: "Deposit", id: `${prefix}-dep`, account: a, amount: deposit },
      ]);
      assert.deepEqual(outcomes, [APPLIED, APPLIED, APPLIED]);
      return [a, b];
    };
    body(context);
  });
}

liveSuite("live server", [], (ctx) => {
  test("pipelined transfers", async () => {
    const client = await ctx.connect();
    const [a, b] = await ctx.openPair(client, "pipe", 100_000);
    const outcomes = await Promise.all(Array.from({ length: 2000 }, (_, n) => client.submit(transfer(`pipe-t${n}`, a, b, 7))));
    assert.ok(outcomes.every((outcome) => outcome.kind === "Applied" && outcome.reply.kind === "Done"));
    assert.deepEqual([await ctx.server.balance(a), await ctx.server.balance(b)], [100_000 - 14_000, 14_000]);
  });

  test("batch and TransferBatch", async () => {
    const client = await ctx.connect();
    const [a, b] = await ctx.openPair(client, "batch", 1_000);
    const outcomes = await client.submitBatch([transfer("batch-t1", a, b, 400), { kind: "Tick" }, transfer("batch-t2", a, b, 10 ** 9)]);
    assert.deepEqual(outcomes[0], APPLIED);
    assert.equal(outcomes[1].reply.kind, "Ticked");
    assert.deepEqual(outcomes[2], { kind: "Rejected", rejection: "InsufficientFunds" });
    const loose = { kind: "TransferBatch", atomic: false, transfers: [transfer("batch-t3", a, b, 100), transfer("batch-t4", b, a, 10 ** 9)] };
    assert.deepEqual(await client.submit(loose), {
      kind: "Applied",
      reply: { kind: "TransferBatch", outcomes: [APPLIED, { kind: "Rejected", rejection: "InsufficientFunds" }] },
    });
    assert.equal(await ctx.server.balance(b), 500);
  });

  test("a repeated id gives the same outcome", async () => {
    const client = await ctx.connect();
    const [a, b] = await ctx.openPair(client, "repeat", 1_000);
    const once = transfer("repeat-t1", a, b, 250);
    assert.deepEqual([await client.submit(once), await client.submit(once), await client.submit(once)], [APPLIED, APPLIED, APPLIED]);
    assert.equal(await ctx.server.balance(b), 250);
    assert.deepEqual(await client.submit({ ...once, amount: 251 }), { kind: "Rejected", rejection: "IdReused" });
  });

  test("metadata: applied, kept on a retry, refused for a Deposit", async () => {
    const client = await ctx.connect();
    const [a, b] = await ctx.openPair(client, "meta", 1_000);
    const once = transfer("meta-t1", a, b, 100);
    assert.deepEqual(await client.submit(once, { metadata: { order_id: "A-1" } }), APPLIED);
    // A retry with other metadata answers the first outcome; the first metadata stays.
    assert.deepEqual(await client.submit(once, { metadata: { order_id: "B-2", retry: "1" } }), APPLIED);
    assert.deepEqual([await ctx.server.balance(a), await ctx.server.balance(b)], [900, 100]);
    const found = await ctx.server.http("GET", "/v1/transfers/meta-t1");
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body.metadata, { order_id: "A-1" });
    const deposit = { kind: "Deposit", id: "meta-dep2", account: a, amount: 5 };
    assert.deepEqual(await client.submit(deposit, { metadata: { order_id: "A-3" } }), { kind: "Rejected", rejection: "MetadataNotSupported" });
    assert.equal(await ctx.server.balance(a), 900); // nothing applied
    // Refused before sending: the connection stays usable.
    await assert.rejects(client.submit(transfer("meta-t2", a, b, 1), { metadata: { "bad key": "v" } }), k.ValidationError);
    assert.deepEqual(await client.submit(transfer("meta-t3", a, b, 1), { metadata: {} }), APPLIED);
    assert.equal(await client.ping(), undefined);
  });

  test("rejections and ping", async () => {
    const client = await ctx.connect();
    const [a, b] = await ctx.openPair(client, "reject", 10);
    assert.deepEqual(await client.submit(transfer("reject-t1", a, b, 11)), { kind: "Rejected", rejection: "InsufficientFunds" });
    assert.deepEqual(await client.submit(transfer("reject-t2", a, "nobody", 1)), { kind: "Rejected", rejection: "CounterpartyNotFound" });
    assert.equal(await client.ping(), undefined);
  });

  test("Forbidden across tenants; a revoked key is Unauthenticated", async () => {
    const admin = await ctx.connect();
    const [a] = await ctx.openPair(admin, "tenant", 1_000);
    const created = await ctx.server.http("POST", "/v1/keys", { role: "app", app: "my-app" });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const app = await ctx.connect(created.body.key);
    assert.deepEqual(await app.submit({ kind: "OpenAccount", account: "tenant-app", currency: "EUR", overdraftLimit: 0 }), APPLIED);
    const forbidden = { kind: "Rejected", rejection: "Forbidden" };
    assert.deepEqual(await app.submit(transfer("tenant-t1", a, "tenant-app", 1)), forbidden);
    assert.deepEqual(await app.submit({ kind: "Deposit", id: "tenant-dep", account: "tenant-app", amount: 5 }), forbidden);
    assert.equal(await ctx.server.balance(a), 1_000);
    const revoked = await ctx.server.http("DELETE", `/v1/keys/${created.body.key_id}`);
    assert.ok([200, 204].includes(revoked.status));
    await assert.rejects(app.submit({ kind: "Tick" }), k.UnauthenticatedError);
    assert.ok(app.closed);
  });

  test("a bad key is refused at the handshake", async () => {
    await assert.rejects(k.connect("127.0.0.1", ctx.server.tcpPort, "kassa_nope_nope"), k.UnauthenticatedError);
  });

  test("the server's errors to hand-written frames decode", async () => {
    const socket = tcpConnect(ctx.server.tcpPort, "127.0.0.1");
    const frames = new k.FrameBuffer();
    const replies = new Map();
    const done = new Promise((resolve) => socket.on("close", resolve));
    socket.on("data", (data) => frames.feed(new Uint8Array(data)).forEach((body) => {
      const response = k.decodeResponseBody(body);
      replies.set(Number(response.requestId), response.body);
    }));
    socket.write(k.encodeRequest({ requestId: 1, body: { kind: "Hello", protocolVersion: 1, apiKey: ADMIN_KEY } }));
    socket.write(Buffer.from("00000004 01 02 02 00".replace(/ /g, ""), "hex")); // Batch of 0 commands
    socket.write(Buffer.from("00000000", "hex")); // an empty frame
    await within(done, 10_000);
    socket.destroy();
    assert.equal(replies.get(1).kind, "Welcome");
    assert.equal(replies.get(2).code, "InvalidBatch");
    assert.equal(replies.get(0).code, "MalformedFrame");
  });
});

liveSuite("Busy from a real server", ["--mailbox-max", "1"], (ctx) => {
  test("Busy is signalled, and retried with backoff", async () => {
    const client = await ctx.connect(ADMIN_KEY, { busyRetries: 0 });
    const [a, b] = await ctx.openPair(client, "busy", 100_000);
    const first = await Promise.allSettled(Array.from({ length: 300 }, (_, n) => client.submit(transfer(`busy-x${n}`, a, b, 1))));
    const busy = first.filter((result) => result.status === "rejected" && result.reason instanceof k.BusyError).length;
    assert.ok(busy > 0, "some requests were answered Busy");
    const patient = await ctx.connect(ADMIN_KEY, { busyRetries: 200, busyBackoffInitialMs: 2, busyBackoffMaxMs: 50 });
    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, n) => patient.submit(transfer(`busy-t${n}`, a, b, 1))));
    assert.ok(outcomes.every((outcome) => outcome.kind === "Applied"));
    assert.ok(patient.stats.busyRetries > 0);
    assert.equal(await ctx.server.balance(b), 600 - busy);
  });
});

liveSuite("SIGKILL and restart", [], (ctx) => {
  test("reconnect and resend mid-stream: same outcomes, money conserved", async () => {
    const total = 3000;
    const client = await ctx.connect(ADMIN_KEY, { requestTimeoutMs: 60_000, reconnectBackoffMaxMs: 500, reconnectAttempts: 100 });
    const [a, b] = await ctx.openPair(client, "crash", 1_000_000);
    const transfers = Array.from({ length: total }, (_, n) => transfer(`crash-t${n}`, a, b, 1));
    const promises = [];
    let answered = 0;
    const feeding = (async () => {
      for (let start = 0; start < total; start += 25) {
        for (const t of transfers.slice(start, start + 25)) promises.push(client.submit(t).finally(() => answered++));
        await sleep(4);
      }
    })();
    while (answered < total / 10) await sleep(1);
    ctx.server.freeze(); // SIGSTOP: what is sent from now on stays unanswered...
    await sleep(50);
    await ctx.server.kill(); // ...then SIGKILL, mid-stream
    assert.ok(answered < total, "killed mid-stream");
    await ctx.server.start();
    await feeding;
    const first = await Promise.all(promises);
    assert.ok(first.every((outcome) => outcome.kind === "Applied" && outcome.reply.kind === "Done"));
    assert.ok(client.stats.reconnects >= 1);
    assert.ok(client.stats.resent > 0);
    const again = await Promise.all(transfers.map((t) => client.submit(t)));
    assert.deepEqual(again, first);
    assert.deepEqual([await ctx.server.balance(a), await ctx.server.balance(b)], [1_000_000 - total, total]);
  });
});
