"""Byte-for-byte checks against docs/protocol.md §2 and §7, and strict decoding of bad input."""

import unittest

from kassa_client import (
    AppRole,
    Applied,
    Batch,
    ConfirmBill,
    Currency,
    DeductionRule,
    Done,
    ErrorCode,
    ErrorResponse,
    FrameBuffer,
    GeoPoint,
    Hello,
    IssueCoupon,
    OutcomesResponse,
    OutcomeResponse,
    PercentOff,
    Ping,
    Pong,
    RedeemCoupon,
    RefundBill,
    RefundPos,
    RefundSplit,
    Refunded,
    RegisterApiKey,
    Rejected,
    Rejection,
    Request,
    Response,
    SettlePos,
    Submit,
    SubmitWithMetadata,
    Ticked,
    Tick,
    Transfer,
    Welcome,
    decode_request_frame,
    decode_response_frame,
    encode_body,
    encode_request,
    encode_response,
    write_varint,
    zigzag,
    unzigzag,
)
from kassa_client.codec import I32, U16, U32, U64, Reader
from kassa_client.types import OUTCOME, REPLY
from kassa_client import errors


def unhex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def command_bytes(command) -> str:
    """The hex of a command's encoding (after the format-version byte and a Submit header)."""
    body = encode_body(Request(1, Submit(command)))
    return body[3:].hex()


# docs/protocol.md §7, each as (name, message, hex frame).
REQUEST_EXAMPLES = [
    ("hello", Request(1, Hello(1, "admin-key")), "0000000e 01 01 00 01 09 61646d696e2d6b6579"),
    (
        "transfer",
        Request(7, Submit(Transfer("t-1", "alice", "bob", 1234, Currency.EUR))),
        "00000018 01 07 01 04 03742d31 05616c696365 03626f62 fbd204 fbd203",
    ),
    (
        "submit_with_metadata",
        Request(10, SubmitWithMetadata(Transfer("t-1", "alice", "bob", 1234, Currency.EUR), {"order_id": "A-1"})),
        "00000026 01 0a 04 04 03742d31 05616c696365 03626f62 fbd204 fbd203 01 086f726465725f6964 03412d31",
    ),
    ("batch", Request(8, Batch([Tick()])), "00000005 01 08 02 01 1e"),
    ("ping", Request(9, Ping()), "00000003 01 09 03"),
    (
        "settle_pos",
        Request(300, Submit(SettlePos("s1", "u", "12345678", 70000, Currency.USD, "t", None, 5))),
        "00000022 01 fb2c01 01 0d 027331 0175 083132333435363738 fc70110100 fb4803 0174 00 0105 00",
    ),
]

RESPONSE_EXAMPLES = [
    ("welcome", Response(1, Welcome(1, 1_048_576)), "00000009 01 01 00 01 fc00001000"),
    ("applied", Response(7, OutcomeResponse(Applied(Done()))), "00000005 01 07 01 00 00"),
    (
        "rejected",
        Response(7, OutcomeResponse(Rejected(Rejection.InsufficientFunds))),
        "00000005 01 07 01 01 09",
    ),
    ("outcomes", Response(8, OutcomesResponse([Applied(Ticked(0))])), "00000007 01 08 02 01 00 0c 00"),
    ("pong", Response(9, Pong()), "00000003 01 09 03"),
    (
        "busy",
        Response(0, ErrorResponse(ErrorCode.Busy, "engine busy")),
        "00000010 01 00 04 06 0b 656e67696e652062757379",
    ),
]


class VarintTest(unittest.TestCase):
    def test_documented_varints(self):
        for value, expected in [
            (7, "07"),
            (250, "fa"),
            (251, "fb fb 00"),
            (1234, "fb d2 04"),
            (70_000, "fc 70 11 01 00"),
            (1_048_576, "fc 00 00 10 00"),
            (2**32, "fd 00 00 00 00 01 00 00 00"),
            (2**64 - 1, "fd ff ff ff ff ff ff ff ff"),
            (65_535, "fb ff ff"),
            (65_536, "fc 00 00 01 00"),
        ]:
            out = bytearray()
            write_varint(out, value)
            self.assertEqual(out.hex(), unhex(expected).hex(), value)
            self.assertEqual(U64.read(Reader(out)), value)

    def test_zigzag(self):
        for value, expected in [(0, 0), (-1, 1), (1, 2), (-2, 3), (2**31 - 1, 2**32 - 2), (-(2**31), 2**32 - 1)]:
            self.assertEqual(zigzag(value, 32), expected)
            self.assertEqual(unzigzag(expected), value)
        out = bytearray()
        I32.write(out, -1, "x")
        I32.write(out, 1, "y")
        self.assertEqual(out.hex(), "0102")

    def test_wider_forms_than_the_type_are_malformed(self):
        self.assertRaises(errors.InvalidVarintError, U16.read, Reader(unhex("fc 01 00 00 00")))
        self.assertRaises(errors.InvalidVarintError, U32.read, Reader(unhex("fd 01 00 00 00 00 00 00 00")))
        for marker in ("fe", "ff"):
            self.assertRaises(errors.InvalidVarintError, U64.read, Reader(unhex(marker + "00" * 16)))
        self.assertRaises(errors.TruncatedError, U64.read, Reader(unhex("fb 01")))


class DocumentedExamplesTest(unittest.TestCase):
    def test_requests_byte_for_byte(self):
        for name, request, expected in REQUEST_EXAMPLES:
            with self.subTest(name):
                self.assertEqual(encode_request(request).hex(), unhex(expected).hex())
                self.assertEqual(decode_request_frame(unhex(expected)), request)

    def test_responses_byte_for_byte(self):
        for name, response, expected in RESPONSE_EXAMPLES:
            with self.subTest(name):
                self.assertEqual(encode_response(response).hex(), unhex(expected).hex())
                self.assertEqual(decode_response_frame(unhex(expected)), response)

    def test_field_layouts(self):
        coupon = IssueCoupon(
            "c", "m", "h", Currency.JPY, DeductionRule(PercentOff("12.5", 9), 0), [], 1, 2, None, 3
        )
        self.assertEqual(command_bytes(coupon), unhex("18 0163 016d 0168 fb8801 00 0431322e35 0109 00 00 01 02 00 03").hex())
        register = RegisterApiKey("k", AppRole("a"), b"\xab" * 32)
        self.assertEqual(command_bytes(register), unhex("1c 016b 03 0161" + "ab" * 32).hex())
        redeem = RedeemCoupon("r", "o", "1", 1, GeoPoint(-1, 1))
        self.assertEqual(command_bytes(redeem), unhex("1b 0172 016f 0131 01 01 01 02").hex())
        self.assertEqual(command_bytes(ConfirmBill("b", "c")), unhex("12 0162 0163 00 00").hex())

    def test_settle_pos_location_byte_for_byte(self):
        # Written by hand from docs/protocol.md §2 and §6: SettlePos (13) ends with
        # location: Option<GeoPoint>, GeoPoint { latitude_e6: i32, longitude_e6: i32 }, each i32
        # zigzagged then a u32 varint: 48_856_600 -> 97_713_200 = 0x05d2fc30 -> fc 30fcd205,
        # 2_352_200 -> 4_704_400 = 0x0047c890 -> fc 90c84700.
        command = SettlePos(
            "s1", "u", "12345678", 70000, Currency.USD, "t", None, 5,
            location=GeoPoint(latitude_e6=48856600, longitude_e6=2352200),
        )
        request = Request(300, Submit(command))
        frame = (
            "0000002c 01 fb2c01 01 0d 027331 0175 083132333435363738 fc70110100 fb4803 0174 00 0105"
            " 01 fc30fcd205 fc90c84700"
        )
        self.assertEqual(encode_request(request).hex(), unhex(frame).hex())
        self.assertEqual(decode_request_frame(unhex(frame)), request)
        confirm = ConfirmBill("b", "c", "k", GeoPoint(-1, 1))
        self.assertEqual(command_bytes(confirm), unhex("12 0162 0163 01 016b 01 01 02").hex())

    def test_refunds_byte_for_byte(self):
        # Written by hand from docs/protocol.md §6: Command 32 RefundPos / 33 RefundBill
        # { of: Id, refund: Id, amount: u64 }, Reply 15 Refunded { amount: u64, remaining: u64 },
        # Rejection 56 RefundExceedsCharge, 57 TooManyRefunds.
        request = Request(10, Submit(RefundPos("s1", "r1", 1234)))
        frame = "0000000d 01 0a 01 20 027331 027231 fbd204"
        self.assertEqual(encode_request(request).hex(), unhex(frame).hex())
        self.assertEqual(decode_request_frame(unhex(frame)), request)
        self.assertEqual(command_bytes(RefundBill("b", "r-2", 250)), unhex("21 0162 03722d32 fa").hex())
        response = Response(11, OutcomeResponse(Applied(Refunded(1234, 70000))))
        frame = "0000000d 01 0b 01 00 0f fbd204 fc70110100"
        self.assertEqual(encode_response(response).hex(), unhex(frame).hex())
        self.assertEqual(decode_response_frame(unhex(frame)), response)
        for rejection, index in [(Rejection.RefundExceedsCharge, "38"), (Rejection.TooManyRefunds, "39")]:
            response = Response(7, OutcomeResponse(Rejected(rejection)))
            self.assertEqual(encode_response(response).hex(), unhex("00000005 01 07 01 01" + index).hex())
            self.assertEqual(decode_response_frame(unhex("00000005 01 07 01 01" + index)), response)

    def test_refund_split_byte_for_byte(self):
        # Written by hand from docs/protocol.md §2 and §6: Command 34 RefundSplit { split: Id },
        # encoded like CancelSplit (22): the index 0x22, then the id as a varint length and UTF-8
        # ("sp" -> 02 73 70). Request 12 is 01 (format) 0c (id) 01 (Submit): a 7-byte body.
        request = Request(12, Submit(RefundSplit("sp")))
        frame = "00000007 01 0c 01 22 027370"
        self.assertEqual(encode_request(request).hex(), unhex(frame).hex())
        self.assertEqual(decode_request_frame(unhex(frame)), request)
        self.assertEqual(command_bytes(RefundSplit("sp")), unhex("22 027370").hex())
        # Answered Applied(Refunded { amount: total, remaining: 0 }): 1000 -> fb e803, 0 -> 00.
        response = Response(12, OutcomeResponse(Applied(Refunded(1000, 0))))
        frame = "00000009 01 0c 01 00 0f fbe803 00"
        self.assertEqual(encode_response(response).hex(), unhex(frame).hex())
        self.assertEqual(decode_response_frame(unhex(frame)), response)
        # Rejection 49 NotReversible: a split that is not completed.
        response = Response(12, OutcomeResponse(Rejected(Rejection.NotReversible)))
        self.assertEqual(encode_response(response).hex(), unhex("00000005 01 0c 01 01 31").hex())
        self.assertEqual(Rejection.NotReversible.code, "not_reversible")

    def test_metadata_byte_for_byte(self):
        # Written by hand from docs/protocol.md §3 and §6: RequestBody 4 SubmitWithMetadata
        # { command, metadata }, Metadata = varint count, then key String, value String per entry,
        # keys in byte order whatever order they are given in; a list of pairs encodes alike.
        transfer = Transfer("t-1", "alice", "bob", 1234, Currency.EUR)
        expected = unhex("00000026 01 0a 04 04 03742d31 05616c696365 03626f62 fbd204 fbd203 01 086f726465725f6964 03412d31")
        self.assertEqual(encode_request(Request(10, SubmitWithMetadata(transfer, [("order_id", "A-1")]))), expected)
        unordered = Request(5, SubmitWithMetadata(Tick(), {"b": "2", "a": "", "B": "\u00e9"}))
        frame = "00000011 01 05 04 1e 03 0142 02c3a9 0161 00 0162 0132"
        self.assertEqual(encode_request(unordered).hex(), unhex(frame).hex())
        decoded = decode_request_frame(unhex(frame))
        self.assertEqual(decoded, unordered)
        self.assertEqual(list(decoded.body.metadata), ["B", "a", "b"])
        # Rejection 58 MetadataNotSupported.
        response = Response(10, OutcomeResponse(Rejected(Rejection.MetadataNotSupported)))
        self.assertEqual(encode_response(response).hex(), unhex("00000005 01 0a 01 01 3a").hex())
        self.assertEqual(decode_response_frame(unhex("00000005 01 0a 01 01 3a")), response)

    def test_outcome_variant_indices(self):
        for index, cls in sorted(REPLY.base.VARIANTS.items()):
            self.assertEqual(cls.VARIANT, index)
        self.assertEqual(len(REPLY.base.VARIANTS), 16)
        self.assertEqual(len(OUTCOME.base.VARIANTS), 3)
        self.assertEqual(len(Rejection), 59)
        self.assertEqual(Rejection.IdTableFull, 52)
        self.assertEqual(Rejection.CrossPartition, 53)
        self.assertEqual(Rejection.AuthorizationNotFound, 55)
        self.assertEqual(Rejection.RefundExceedsCharge, 56)
        self.assertEqual(Rejection.TooManyRefunds, 57)
        self.assertEqual(Rejection.RefundExceedsCharge.code, "refund_exceeds_charge")
        self.assertEqual(Rejection.TooManyRefunds.code, "too_many_refunds")
        self.assertEqual(Rejection.MetadataNotSupported, 58)
        self.assertEqual(Rejection.MetadataNotSupported.code, "metadata_not_supported")
        self.assertEqual(SubmitWithMetadata.VARIANT, 4)
        self.assertEqual(Refunded.VARIANT, 15)
        self.assertEqual((RefundPos.VARIANT, RefundBill.VARIANT, RefundSplit.VARIANT), (32, 33, 34))
        self.assertEqual(Rejection.InsufficientFunds.code, "insufficient_funds")


class FrameBufferTest(unittest.TestCase):
    def test_splits_a_stream_byte_by_byte(self):
        stream = b"".join(unhex(hexed) for _, _, hexed in RESPONSE_EXAMPLES)
        buffer, bodies = FrameBuffer(), []
        for byte in stream:
            bodies += buffer.feed(bytes([byte]))
        self.assertEqual(len(bodies), len(RESPONSE_EXAMPLES))
        self.assertEqual(buffer.pending_bytes(), 0)

    def test_refuses_bad_lengths_before_the_body(self):
        self.assertRaises(errors.OversizeFrameError, FrameBuffer().feed, unhex("00100001"))
        self.assertRaises(errors.OversizeFrameError, FrameBuffer().feed, unhex("ffffffff 01"))
        self.assertRaises(errors.EmptyFrameError, FrameBuffer().feed, unhex("00000000"))
        self.assertEqual(FrameBuffer().feed(unhex("00100000 01 02 03")), [])  # 1 MiB is allowed


if __name__ == "__main__":
    unittest.main()
