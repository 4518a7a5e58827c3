// Hostile input: every failure is a specific DecodeError, never a crash.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as k from "../dist/index.js";
import { unhex } from "./helpers.mjs";
import { everyCommand, everyReply } from "./samples.mjs";

function responseFrame(bodyHex) {
  return k.frame(unhex(bodyHex));
}

const decodesAs = (errorType, bodyHex) => assert.throws(() => k.decodeResponseFrame(responseFrame(bodyHex)), errorType, bodyHex);

test("truncated frames and bodies", () => {
  const frame = k.encodeResponse({ requestId: 2n ** 40n, body: { kind: "Outcomes", outcomes: everyReply().map((reply) => ({ kind: "Applied", reply })) } });
  for (let cut = 0; cut < frame.length; cut++) {
    assert.throws(() => k.decodeResponseFrame(frame.subarray(0, cut)), k.TruncatedError);
    if (cut > 4) assert.throws(() => k.decodeResponseBody(frame.subarray(4, cut)), k.DecodeError);
  }
  const request = k.encodeRequest({ requestId: 3, body: { kind: "Batch", commands: everyCommand() } });
  for (let cut = 5; cut < request.length; cut++) assert.throws(() => k.decodeRequestBody(request.subarray(4, cut)), k.DecodeError);
});

test("unknown variants", () => {
  decodesAs(k.UnknownVariantError, "01 01 05"); // ResponseBody 5
  decodesAs(k.UnknownVariantError, "01 01 01 03"); // Outcome 3
  const batch = k.decodeResponseBody(unhex("01 01 01 02 04 09")).body.outcome; // Outcome 2
  assert.deepEqual(batch, { kind: "BatchRejected", leg: 4, rejection: "InsufficientFunds" });
  decodesAs(k.UnknownVariantError, "01 01 01 00 10"); // Reply 16
  decodesAs(k.UnknownVariantError, "01 01 01 01 3b"); // Rejection 59
  decodesAs(k.UnknownVariantError, "01 01 04 09 00"); // ErrorCode 9
  assert.throws(() => k.decodeRequestBody(unhex("01 01 01 23")), k.UnknownVariantError); // Command 35
  assert.throws(() => k.decodeRequestBody(unhex("01 01 05")), k.UnknownVariantError); // RequestBody 5
});

test("bad tags, strings and values", () => {
  decodesAs(k.InvalidBoolError, "01 01 01 00 08 05 02"); // SharePaid.completed = 2
  decodesAs(k.InvalidOptionTagError, "01 01 01 00 0b 01 02 02"); // reward_coupon tag 2
  decodesAs(k.InvalidUtf8Error, "01 01 04 06 02 c3 28");
  decodesAs(k.InvalidValueError, "01 01 01 00 0b 01 02 01 03 61 20 62"); // id "a b"
  decodesAs(k.InvalidVarintError, "01 01 00 fc 01 00 00 00 00"); // u16 as 0xFC
  decodesAs(k.InvalidVarintError, "01 fe 00"); // 0xFE request id
  decodesAs(k.InvalidVarintError, "01 01 01 00 fd 00 00 00 00 00 00 00 00"); // variant index as u64
  decodesAs(k.UnknownFormatVersionError, "02 01 03");
  decodesAs(k.TruncatedError, "01 01 04 06 fd 00 00 00 00 00 00 00 10"); // a 2^60-byte string
  assert.throws(() => k.decodeRequestBody(unhex("01 01 01 00 01 61 01 00")), k.InvalidValueError); // currency 1
});

test("bad metadata", () => {
  const tick = "01 01 04 1e"; // request 1, SubmitWithMetadata, Command::Tick, then the metadata
  const seventeen = "11" + Array.from({ length: 17 }, (_, n) => ` 02 6b ${(0x61 + n).toString(16)} 00`).join("");
  for (const metadata of [
    "01 00 00", // empty key
    "01 03 612062 00", // key "a b"
    "01 01 6b 01 0a", // value "\n"
    "02 01 6b 00 01 6b 00", // key "k" twice
    seventeen, // 17 entries
    "01 01 6b fb f501" + "76".repeat(501), // a 501-byte value
  ]) {
    assert.throws(() => k.decodeRequestBody(unhex(tick + metadata)), k.InvalidValueError, metadata);
  }
  assert.throws(() => k.decodeRequestBody(unhex(tick + "fd ffffffffffffffff")), k.TruncatedError); // a hostile count
  const unordered = k.decodeRequestBody(unhex(tick + "02 0162 00 0161 00")); // out of order: accepted
  assert.deepEqual(Object.keys(unordered.body.metadata), ["a", "b"]);
});

test("trailing bytes and bad lengths", () => {
  decodesAs(k.TrailingBytesError, "01 09 03 00");
  assert.throws(() => k.decodeResponseFrame(unhex("00000003 01 09 03 00")), k.TrailingBytesError);
  assert.throws(() => k.decodeResponseFrame(unhex("00100001 0101010101")), k.OversizeFrameError);
  assert.throws(() => k.decodeResponseFrame(unhex("00000000")), k.EmptyFrameError);
  assert.throws(() => k.decodeResponseBody(new Uint8Array()), k.EmptyFrameError);
  assert.throws(() => new k.FrameBuffer().feed(unhex("00100001")), k.OversizeFrameError);
  assert.throws(() => new k.FrameBuffer().feed(unhex("ffffffff 01")), k.OversizeFrameError);
  assert.throws(() => new k.FrameBuffer().feed(unhex("00000000")), k.EmptyFrameError);
  assert.deepEqual(new k.FrameBuffer().feed(unhex("00100000 010203")), []); // 1 MiB is allowed
});

test("a stream split byte by byte", () => {
  const stream = unhex("00000005 01 07 01 00 00 00000003 01 09 03 00000007 01 08 02 01 00 0c 00");
  const buffer = new k.FrameBuffer();
  const bodies = [];
  for (const byte of stream) bodies.push(...buffer.feed(Uint8Array.of(byte)));
  assert.equal(bodies.length, 3);
  assert.equal(buffer.pendingBytes(), 0);
});

test("random corruption only ever throws DecodeErrors", () => {
  let seed = 7;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const corpus = [
    k.encodeResponse({ requestId: 9, body: { kind: "Outcomes", outcomes: everyReply().map((reply) => ({ kind: "Applied", reply })) } }),
    k.encodeRequest({ requestId: 9, body: { kind: "Batch", commands: everyCommand() } }),
    k.encodeRequest({ requestId: 9, body: { kind: "SubmitWithMetadata", command: everyCommand()[13], metadata: { order_id: "A-1", note: "café", x: "" } } }),
  ];
  for (let round = 0; round < 3000; round++) {
    const frame = corpus[round % corpus.length].slice();
    for (let flips = 1 + random(4); flips > 0; flips--) frame[random(frame.length)] = random(256);
    for (const decode of [k.decodeResponseFrame, k.decodeRequestFrame]) {
      try {
        decode(frame);
      } catch (error) {
        assert.ok(error instanceof k.DecodeError, String(error));
      }
    }
  }
});
