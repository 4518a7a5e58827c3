// Byte-for-byte checks against docs/protocol.md §2 and §7, round trips of every command, and
// strict decoding of hostile input.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as k from "../dist/index.js";
import { hex, unhex } from "./helpers.mjs";
import { everyCommand, everyReply } from "./samples.mjs";

const APPLIED = { kind: "Applied", reply: { kind: "Done" } };

/** docs/protocol.md §7: [name, message, hex frame]; decoded forms use bigint u64s. */
const REQUEST_EXAMPLES = [
  ["hello", { requestId: 1n, body: { kind: "Hello", protocolVersion: 1, apiKey: "admin-key" } }, "0000000e 01 01 00 01 09 61646d696e2d6b6579"],
  [
    "transfer",
    { requestId: 7n, body: { kind: "Submit", command: { kind: "Transfer", id: "t-1", from: "alice", to: "bob", amount: 1234n, currency: "EUR" } } },
    "00000018 01 07 01 04 03742d31 05616c696365 03626f62 fbd204 fbd203",
  ],
  [
    "submit_with_metadata",
    {
      requestId: 10n,
      body: {
        kind: "SubmitWithMetadata",
        command: { kind: "Transfer", id: "t-1", from: "alice", to: "bob", amount: 1234n, currency: "EUR" },
        metadata: { order_id: "A-1" },
      },
    },
    "00000026 01 0a 04 04 03742d31 05616c696365 03626f62 fbd204 fbd203 01 086f726465725f6964 03412d31",
  ],
  ["batch", { requestId: 8n, body: { kind: "Batch", commands: [{ kind: "Tick" }] } }, "00000005 01 08 02 01 1e"],
  ["ping", { requestId: 9n, body: { kind: "Ping" } }, "00000003 01 09 03"],
  [
    "settle_pos",
    {
      requestId: 300n,
      body: {
        kind: "Submit",
        command: { kind: "SettlePos", id: "s1", user: "u", code: "12345678", amount: 70000n, currency: "USD", terminal: "t", coupon: null, holdUntilMs: 5n, location: null },
      },
    },
    "00000022 01 fb2c01 01 0d 027331 0175 083132333435363738 fc70110100 fb4803 0174 00 0105 00",
  ],
];

const RESPONSE_EXAMPLES = [
  ["welcome", { requestId: 1n, body: { kind: "Welcome", protocolVersion: 1, frameBytesMax: 1048576 } }, "00000009 01 01 00 01 fc00001000"],
  ["applied", { requestId: 7n, body: { kind: "Outcome", outcome: APPLIED } }, "00000005 01 07 01 00 00"],
  ["rejected", { requestId: 7n, body: { kind: "Outcome", outcome: { kind: "Rejected", rejection: "InsufficientFunds" } } }, "00000005 01 07 01 01 09"],
  [
    "outcomes",
    { requestId: 8n, body: { kind: "Outcomes", outcomes: [{ kind: "Applied", reply: { kind: "Ticked", expired: 0 } }] } },
    "00000007 01 08 02 01 00 0c 00",
  ],
  ["pong", { requestId: 9n, body: { kind: "Pong" } }, "00000003 01 09 03"],
  ["busy", { requestId: 0n, body: { kind: "Error", code: "Busy", message: "engine busy" } }, "00000010 01 00 04 06 0b 656e67696e652062757379"],
];

/** The hex of a command's encoding after the version byte, request id and Submit tag. */
function commandHex(command) {
  return hex(k.encodeRequestBody({ requestId: 1, body: { kind: "Submit", command } }).subarray(3));
}

describe("§2 varints", () => {
  test("documented examples, both ways", () => {
    const cases = [
      [7n, "07"], [250n, "fa"], [251n, "fbfb00"], [1234n, "fbd204"], [70000n, "fc70110100"],
      [1048576n, "fc00001000"], [2n ** 32n, "fd0000000001000000"], [2n ** 64n - 1n, "fdffffffffffffffff"],
      [65535n, "fbffff"], [65536n, "fc00000100"],
    ];
    for (const [value, expected] of cases) {
      const out = new k.Writer();
      out.varint(value);
      assert.equal(hex(out.result()), expected, String(value));
      assert.equal(new k.Reader(unhex(expected)).varint(64), value);
    }
  });

  test("zigzag: GeoPoint { -1, 1 } is 01 02", () => {
    const redeem = { kind: "RedeemCoupon", id: "r", operator: "o", code: "1", amount: 1, location: { latitudeE6: -1, longitudeE6: 1 } };
    assert.equal(commandHex(redeem), "1b0172016f0131010101" + "02");
    const extremes = { ...redeem, location: { latitudeE6: -(2 ** 31), longitudeE6: 2 ** 31 - 1 } };
    assert.equal(commandHex(extremes).slice(-20), "fcfffffffffcfeffffff");
  });

  test("forms wider than the type are malformed", () => {
    assert.throws(() => new k.Reader(unhex("fc01000000")).varint(16), k.InvalidVarintError);
    assert.throws(() => new k.Reader(unhex("fd0100000000000000")).varint(32), k.InvalidVarintError);
    assert.throws(() => new k.Reader(unhex("fe" + "00".repeat(16))).varint(64), k.InvalidVarintError);
    assert.throws(() => new k.Reader(unhex("ff")).varint(64), k.InvalidVarintError);
    assert.throws(() => new k.Reader(unhex("fb01")).varint(64), k.TruncatedError);
  });
});

describe("§7 complete examples", () => {
  for (const [name, request, expected] of REQUEST_EXAMPLES) {
    test(`request ${name}`, () => {
      assert.equal(hex(k.encodeRequest(request)), hex(unhex(expected)));
      assert.deepEqual(k.decodeRequestFrame(unhex(expected)), request);
    });
  }
  for (const [name, response, expected] of RESPONSE_EXAMPLES) {
    test(`response ${name}`, () => {
      assert.equal(hex(k.encodeResponse(response)), hex(unhex(expected)));
      assert.deepEqual(k.decodeResponseFrame(unhex(expected)), response);
    });
  }
  test("field layouts: Decimal, Principal, [u8; 32]", () => {
    const coupon = {
      kind: "IssueCoupon", coupon: "c", merchant: "m", holder: "h", currency: "JPY",
      rule: { kind: { kind: "PercentOff", percent: "12.5", cap: 9 }, minSpend: 0 },
      adjustments: [], validFromMs: 1, validUntilMs: 2, reward: null, nonce: 3,
    };
    assert.equal(commandHex(coupon), hex(unhex("18 0163 016d 0168 fb8801 00 0431322e35 0109 00 00 01 02 00 03")));
    const register = { kind: "RegisterApiKey", keyId: "k", role: { kind: "App", id: "a" }, secretHash: new Uint8Array(32).fill(0xab) };
    assert.equal(commandHex(register), "1c016b030161" + "ab".repeat(32));
    assert.equal(commandHex({ kind: "ConfirmBill", bill: "b", challenge: "c" }), hex(unhex("12 0162 0163 00 00")));
  });
  test("SettlePos / ConfirmBill location, written by hand from §2 and §6", () => {
    // location: Option<GeoPoint> is the last field; GeoPoint { latitude_e6: i32, longitude_e6: i32 },
    // each i32 zigzagged then a u32 varint: 48_856_600 -> 97_713_200 = 0x05d2fc30 -> fc 30fcd205,
    // 2_352_200 -> 4_704_400 = 0x0047c890 -> fc 90c84700.
    const command = {
      kind: "SettlePos", id: "s1", user: "u", code: "12345678", amount: 70000n, currency: "USD", terminal: "t",
      coupon: null, holdUntilMs: 5n, location: { latitudeE6: 48856600, longitudeE6: 2352200 },
    };
    const request = { requestId: 300n, body: { kind: "Submit", command } };
    const frame = "0000002c 01 fb2c01 01 0d 027331 0175 083132333435363738 fc70110100 fb4803 0174 00 0105 01 fc30fcd205 fc90c84700";
    assert.equal(hex(k.encodeRequest(request)), hex(unhex(frame)));
    assert.deepEqual(k.decodeRequestFrame(unhex(frame)), request);
    const confirm = { kind: "ConfirmBill", bill: "b", challenge: "c", coupon: "k", location: { latitudeE6: -1, longitudeE6: 1 } };
    assert.equal(commandHex(confirm), hex(unhex("12 0162 0163 01 016b 01 01 02")));
  });
  test("refunds, written by hand from §6", () => {
    // Command 32 RefundPos / 33 RefundBill { of: Id, refund: Id, amount: u64 }.
    const request = { requestId: 10n, body: { kind: "Submit", command: { kind: "RefundPos", of: "s1", refund: "r1", amount: 1234n } } };
    const requestFrame = "0000000d 01 0a 01 20 027331 027231 fbd204";
    assert.equal(hex(k.encodeRequest(request)), hex(unhex(requestFrame)));
    assert.deepEqual(k.decodeRequestFrame(unhex(requestFrame)), request);
    assert.equal(commandHex({ kind: "RefundBill", of: "b", refund: "r-2", amount: 250 }), hex(unhex("21 0162 03722d32 fa")));
    // Reply 15 Refunded { amount: u64, remaining: u64 }.
    const response = { requestId: 11n, body: { kind: "Outcome", outcome: { kind: "Applied", reply: { kind: "Refunded", amount: 1234n, remaining: 70000n } } } };
    const responseFrame = "0000000d 01 0b 01 00 0f fbd204 fc70110100";
    assert.equal(hex(k.encodeResponse(response)), hex(unhex(responseFrame)));
    assert.deepEqual(k.decodeResponseFrame(unhex(responseFrame)), response);
    // Rejection 56 RefundExceedsCharge, 57 TooManyRefunds.
    for (const [rejection, index] of [["RefundExceedsCharge", "38"], ["TooManyRefunds", "39"]]) {
      const rejected = { requestId: 7n, body: { kind: "Outcome", outcome: { kind: "Rejected", rejection } } };
      assert.equal(hex(k.encodeResponse(rejected)), hex(unhex("00000005 01 07 01 01" + index)));
      assert.deepEqual(k.decodeResponseFrame(unhex("00000005 01 07 01 01" + index)), rejected);
    }
    assert.equal(k.REJECTIONS.indexOf("AuthorizationNotFound"), 55);
    assert.equal(k.rejectionCode("RefundExceedsCharge"), "refund_exceeds_charge");
    assert.equal(k.rejectionCode("TooManyRefunds"), "too_many_refunds");
  });
  test("SubmitWithMetadata, written by hand from §3 and §6", () => {
    // RequestBody 4 SubmitWithMetadata { command, metadata }; Metadata = varint count, then key
    // String, value String per entry, keys in byte order whatever order they are given in.
    const command = { kind: "Transfer", id: "t-1", from: "alice", to: "bob", amount: 1234, currency: "EUR" };
    const expected = "00000026 01 0a 04 04 03742d31 05616c696365 03626f62 fbd204 fbd203 01 086f726465725f6964 03412d31";
    for (const metadata of [[["order_id", "A-1"]], new Map([["order_id", "A-1"]])]) {
      assert.equal(hex(k.encodeRequest({ requestId: 10, body: { kind: "SubmitWithMetadata", command, metadata } })), hex(unhex(expected)));
    }
    const unordered = { requestId: 5n, body: { kind: "SubmitWithMetadata", command: { kind: "Tick" }, metadata: { b: "2", a: "", B: "\u00e9" } } };
    const frame = "00000011 01 05 04 1e 03 0142 02c3a9 0161 00 0162 0132";
    assert.equal(hex(k.encodeRequest(unordered)), hex(unhex(frame)));
    assert.deepEqual(k.decodeRequestFrame(unhex(frame)), unordered);
    assert.deepEqual(Object.keys(k.decodeRequestFrame(unhex(frame)).body.metadata), ["B", "a", "b"]);
    // Rejection 58 MetadataNotSupported.
    const rejected = { requestId: 10n, body: { kind: "Outcome", outcome: { kind: "Rejected", rejection: "MetadataNotSupported" } } };
    assert.equal(hex(k.encodeResponse(rejected)), hex(unhex("00000005 01 0a 01 01 3a")));
    assert.deepEqual(k.decodeResponseFrame(unhex("00000005 01 0a 01 01 3a")), rejected);
    assert.equal(k.REJECTIONS.indexOf("MetadataNotSupported"), 58);
    assert.equal(k.REJECTIONS.length, 59);
    assert.equal(k.rejectionCode("MetadataNotSupported"), "metadata_not_supported");
  });
  test("RefundSplit, written by hand from §2 and §6", () => {
    // Command 34 RefundSplit { split: Id }, encoded like CancelSplit (22): the index 0x22, then the
    // id as a varint length and UTF-8 ("sp" -> 02 73 70). Request 12 is 01 (format) 0c (id) 01 (Submit).
    const request = { requestId: 12n, body: { kind: "Submit", command: { kind: "RefundSplit", split: "sp" } } };
    const requestFrame = "00000007 01 0c 01 22 027370";
    assert.equal(hex(k.encodeRequest(request)), hex(unhex(requestFrame)));
    assert.deepEqual(k.decodeRequestFrame(unhex(requestFrame)), request);
    assert.equal(commandHex({ kind: "RefundSplit", split: "sp" }), hex(unhex("22 027370")));
    // Answered Applied(Refunded { amount: total, remaining: 0 }): 1000 -> fb e803, 0 -> 00.
    const response = { requestId: 12n, body: { kind: "Outcome", outcome: { kind: "Applied", reply: { kind: "Refunded", amount: 1000n, remaining: 0n } } } };
    const responseFrame = "00000009 01 0c 01 00 0f fbe803 00";
    assert.equal(hex(k.encodeResponse(response)), hex(unhex(responseFrame)));
    assert.deepEqual(k.decodeResponseFrame(unhex(responseFrame)), response);
    // Rejection 49 NotReversible: a split that is not completed.
    const rejected = { requestId: 12n, body: { kind: "Outcome", outcome: { kind: "Rejected", rejection: "NotReversible" } } };
    assert.equal(hex(k.encodeResponse(rejected)), hex(unhex("00000005 01 0c 01 01 31")));
    assert.equal(k.rejectionCode("NotReversible"), "not_reversible");
  });
});

describe("round trips", () => {
  test("every command, in variant order", () => {
    const commands = everyCommand();
    assert.equal(commands.length, 35);
    assert.deepEqual(commands.map((c) => c.kind), k.COMMAND_VARIANTS.map(([kind]) => kind));
    commands.forEach((command, index) => {
      const frame = k.encodeRequest({ requestId: index + 1, body: { kind: "Submit", command } });
      assert.equal(frame[7], index, command.kind);
      const again = k.encodeRequest(k.decodeRequestFrame(frame));
      assert.equal(hex(again), hex(frame), command.kind);
    });
    const batch = k.encodeRequest({ requestId: 2n ** 64n - 1n, body: { kind: "Batch", commands } });
    assert.equal(hex(k.encodeRequest(k.decodeRequestFrame(batch))), hex(batch));
  });

  test("every reply, rejection and error code", () => {
    const outcomes = [...everyReply().map((reply) => ({ kind: "Applied", reply })), ...k.REJECTIONS.map((rejection) => ({ kind: "Rejected", rejection }))];
    const frame = k.encodeResponse({ requestId: 5, body: { kind: "Outcomes", outcomes } });
    const decoded = k.decodeResponseFrame(frame);
    assert.equal(decoded.body.outcomes.length, 16 + 59);
    assert.equal(hex(k.encodeResponse(decoded)), hex(frame));
    everyReply().forEach((reply, index) => {
      const body = k.encodeResponseBody({ requestId: 1, body: { kind: "Outcome", outcome: { kind: "Applied", reply } } });
      assert.deepEqual([...body.subarray(3, 5)], [0, index]);
    });
    k.ERROR_CODES.forEach((code, index) => {
      const error = k.serverError(code, "m", 3n);
      assert.equal(error.code, code);
      assert.equal(k.encodeResponseBody({ requestId: 3, body: { kind: "Error", code, message: "" } })[3], index);
    });
    assert.equal(k.rejectionCode("InsufficientFunds"), "insufficient_funds");
    assert.equal(k.rejectionCode("NotAMember"), "not_a_member");
  });
});

describe("validation before sending", () => {
  const refused = (command) => assert.throws(() => k.encodeRequest({ requestId: 1, body: { kind: "Submit", command } }), k.ValidationError);
  const accepted = (command) => k.encodeRequest({ requestId: 1, body: { kind: "Submit", command } });

  test("ids", () => {
    for (const bad of ["", "a".repeat(65), "a b", "é", "a/b", "x\n", 7, null, undefined]) refused({ kind: "CloseAccount", account: bad });
    for (const good of ["a".repeat(64), "acc_1:a.b-c"]) accepted({ kind: "CloseAccount", account: good });
  });

  test("currencies", () => {
    for (const bad of [0, 1, 999, "XXX", "eur", true, 978.5, 65536 + 978]) refused({ kind: "OpenAccount", account: "a", currency: bad, overdraftLimit: 0 });
    for (const good of ["EUR", 978, 36, "ZAR"]) accepted({ kind: "OpenAccount", account: "a", currency: good, overdraftLimit: 0 });
  });

  test("integers, types, kinds", () => {
    refused({ kind: "Deposit", id: "d", account: "a", amount: -1 });
    refused({ kind: "Deposit", id: "d", account: "a", amount: 2n ** 64n });
    refused({ kind: "Deposit", id: "d", account: "a", amount: 2 ** 53 });
    refused({ kind: "Deposit", id: "d", account: "a", amount: "5" });
    refused({ kind: "AddBillItem", bill: "b", terminal: "t", itemRef: "x", quantity: 2 ** 32, unitAmount: 1 });
    refused({ kind: "TransferBatch", atomic: 1, transfers: [] });
    refused({ kind: "RegisterApiKey", keyId: "k", role: { kind: "Admin" }, secretHash: new Uint8Array(31) });
    refused({ kind: "RegisterApiKey", keyId: "k", role: { kind: "Root" }, secretHash: new Uint8Array(32) });
    refused({ kind: "Nope" });
    refused({ kind: "SettlePos", id: "s", user: "u", code: "1", amount: 1, currency: "EUR", terminal: "t", location: { latitudeE6: 0, longitudeE6: -(2 ** 31) - 1 } });
    refused({ kind: "ConfirmBill", bill: "b", challenge: "c", location: { latitudeE6: 1.5, longitudeE6: 0 } });
    refused({ kind: "AddBillItem", bill: "b", terminal: "t", itemRef: "\ud800", quantity: 1, unitAmount: 1 });
  });

  test("metadata", () => {
    const transfer = { kind: "Transfer", id: "t", from: "a", to: "b", amount: 1, currency: "EUR" };
    const encode = (metadata) => k.encodeRequest({ requestId: 1, body: { kind: "SubmitWithMetadata", command: transfer, metadata } });
    const entries = (count, value = "v") => Object.fromEntries(Array.from({ length: count }, (_, n) => [`k${n}`, value]));
    const bad = [
      entries(17), // 17 entries
      { "": "v" }, // empty key
      { "has space": "v" },
      { ["k".repeat(41)]: "v" }, // 41-byte key
      { "é": "v" },
      { "a/b": "v" },
      [["k", "1"], ["k", "2"]], // the same key twice
      { k: "v".repeat(501) }, // 501-byte value
      { k: "€".repeat(501) }, // 501 characters (1,503 bytes)
      { k: "line\nbreak" },
      { k: "nul\u0000" },
      { k: "del\u007f" },
      { k: "c1\u0085" },
      { k: "\ud800" }, // a lone surrogate: not UTF-8
      { k: 1 },
      [["k"]],
      [[1, "v"]],
      "k=v",
      new Set(["k"]),
      null,
    ];
    for (const metadata of bad) {
      assert.throws(() => encode(metadata), k.ValidationError, String(metadata));
      assert.notEqual(k.metadataProblem(metadata), "");
    }
    const good = [entries(16, "v".repeat(500)), { k: "€".repeat(500) }, { ["k".repeat(40)]: "", "A-Z.0_9:": "café ☕ \u00a0 \u2028" }, [["b", "2"], ["a", "1"]], new Map([["x", "y"]]), {}];
    for (const metadata of good) {
      const decoded = k.decodeRequestFrame(encode(metadata)).body.metadata;
      const expected = Object.fromEntries(metadata instanceof Map || Array.isArray(metadata) ? [...metadata] : Object.entries(metadata));
      assert.deepEqual(decoded, expected);
      assert.equal(k.metadataProblem(metadata), "");
    }
  });

  test("batch sizes and frame limits", () => {
    assert.throws(() => k.encodeRequest({ requestId: 1, body: { kind: "Batch", commands: [] } }), k.ValidationError);
    const ticks = (count) => Array.from({ length: count }, () => ({ kind: "Tick" }));
    assert.throws(() => k.encodeRequest({ requestId: 1, body: { kind: "Batch", commands: ticks(8191) } }), k.ValidationError);
    k.encodeRequest({ requestId: 1, body: { kind: "Batch", commands: ticks(8190) } });
    const big = { kind: "Transfer", id: "t".repeat(64), from: "a".repeat(64), to: "b".repeat(64), amount: 1, currency: "EUR" };
    const commands = Array.from({ length: 6000 }, () => big);
    assert.throws(() => k.encodeRequest({ requestId: 1, body: { kind: "Batch", commands } }), k.RequestTooLargeError);
    assert.throws(() => k.encodeRequest({ requestId: 1, body: { kind: "Hello", protocolVersion: 1, apiKey: "k".repeat(4100) } }), k.RequestTooLargeError);
  });
});

