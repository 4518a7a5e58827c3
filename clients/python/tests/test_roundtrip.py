"""Round trips of every command, validation before sending, and hostile input."""

import random
import unittest

import kassa_client as k
from kassa_client import errors
from kassa_client.codec import Reader
from kassa_client.types import OUTCOME


def every_command():
    """One command of every kind, in variant order, with options set where there are any."""
    transfer = k.Transfer("t-1", "alice", "bob", 2**64 - 1, k.Currency.EUR)
    rule = k.DeductionRule(k.PercentOff("12.5", 900), 100)
    adjustments = [
        k.ValueAdjustment(k.TimeWindow(1, 2), 150),
        k.ValueAdjustment(k.Location(k.GeoPoint(-90_000_000, 180_000_000), 300), 2**32 - 1),
    ]
    return [
        k.OpenAccount("alice", k.Currency.EUR, 5),
        k.CloseAccount("alice"),
        k.Deposit("d-1", "alice", 100),
        k.Withdraw("w-1", "alice", 70_000),
        transfer,
        k.TransferBatch(True, [transfer, k.Transfer("t-2", "bob", "alice", 1, k.Currency.KWD)]),
        k.PlaceHold("h", "a", "b", 1, k.Currency.USD, 1_700_000_000_000),
        k.CaptureHold("h", 1),
        k.VoidHold("h"),
        k.RegisterMerchant("m", "a"),
        k.RegisterTerminal("T0000001", "m", bytes(range(32)), k.GeoPoint(48_856_600, -2_352_200)),
        k.RegisterOperator("o", "m"),
        k.Authorize("z", "u", "a", 5000, 2**40, 2**63),
        k.SettlePos("s", "u", "12345678", 1, k.Currency.JPY, "t", "coupon-1", 99, k.GeoPoint(48_856_600, 2_352_200)),
        k.ReversePos("s"),
        k.OpenBill("b", "u", "a", "m", 0, 1),
        k.AddBillItem("b", "t", "sku-é", 3, 250),
        k.SubmitBill("b", 7),
        k.ConfirmBill("b", "challenge", "c", k.GeoPoint(-(2**31), 2**31 - 1)),
        k.CancelBill("b"),
        k.RequestSplit(
            "p", "u", "a", 10, k.Currency.GBP, [k.SplitMember("v", "c"), k.SplitMember("w", "d")],
            k.ExplicitShares([4, 6]), 1,
        ),
        k.PaySplitShare("p", "v"),
        k.CancelSplit("p"),
        k.AddContact("u", "v"),
        k.IssueCoupon("c", "m", "u", k.Currency.CHF, rule, adjustments, 0, 1, k.DeductionRule(k.SpendSave(10, 2), 0), 1),
        k.ShareCoupon("c", "u"),
        k.ClaimCoupon("c", "v", 1),
        k.RedeemCoupon("r", "o", "code", 1, k.GeoPoint(-1, 1)),
        k.RegisterApiKey("key", k.TerminalRole("T0000001"), b"\x00" * 32),
        k.RevokeApiKey("key"),
        k.Tick(),
        k.RevokeAuthorization("au-1"),
        k.RefundPos("s", "rf-1", 2**64 - 1),
        k.RefundBill("b", "rf-1", 1),
        k.RefundSplit("p"),
    ]


def every_reply():
    return [
        k.Done(),
        k.TransferBatchOutcomes([k.Applied(k.Done()), k.Rejected(k.Rejection.LinkedTransferFailed)]),
        k.Captured(600, 400),
        k.Authorized("12345678", 2**50),
        k.Settled("123456", 1000, 200),
        k.BillSubmitted(1200, ""),
        k.BillPaid(1, 0),
        k.SplitRequested([1, 2, 3]),
        k.SharePaid(5, True),
        k.SplitCancelled(9),
        k.CouponIssued("code"),
        k.CouponRedeemed(1, 2, "reward-1"),
        k.Ticked(2**32 - 1),
        k.ContactRequested(),
        k.CouponClaimed("new"),
        k.Refunded(250, 2**64 - 1),
    ]


def body_of(response):
    return k.encode_body(response)


class RoundTripTest(unittest.TestCase):
    def test_every_command_in_variant_order(self):
        commands = every_command()
        self.assertEqual(len(commands), 35)
        for index, command in enumerate(commands):
            with self.subTest(type(command).__name__):
                frame = k.encode_request(k.Request(index + 1, k.Submit(command)))
                self.assertEqual(frame[7], index)  # prefix, version, id, Submit, then the variant
                self.assertEqual(k.decode_request_frame(frame).body.command, command)
        batch = k.Request(2**64 - 1, k.Batch(commands))
        self.assertEqual(k.decode_request_frame(k.encode_request(batch)), batch)

    def test_every_reply_and_rejection(self):
        outcomes = [k.Applied(reply) for reply in every_reply()] + [k.Rejected(r) for r in k.Rejection]
        response = k.Response(5, k.OutcomesResponse(outcomes))
        self.assertEqual(k.decode_response_frame(k.encode_response(response)), response)
        for index, reply in enumerate(every_reply()):
            self.assertEqual(body_of(k.Response(1, k.OutcomeResponse(k.Applied(reply))))[3:5], bytes([0, index]))

    def test_every_error_code(self):
        for code in k.ErrorCode:
            response = k.Response(3, k.ErrorResponse(code, "m"))
            self.assertEqual(k.decode_response_frame(k.encode_response(response)), response)
            error = k.server_error(code, "m", 3)
            self.assertEqual(error.code, code)
            self.assertIsInstance(error, k.SERVER_ERRORS[code])


class ValidationTest(unittest.TestCase):
    def assert_refused(self, command):
        with self.assertRaises(k.ValidationError):
            k.encode_request(k.Request(1, k.Submit(command)))

    def test_ids(self):
        for bad in ["", "a" * 65, "a b", "é", "a/b", "x\n", 7, None]:
            self.assert_refused(k.CloseAccount(bad))
        for good in ["a" * 64, "acc_1:a.b-c", "A-Z.0_9:"]:
            k.encode_request(k.Request(1, k.Submit(k.CloseAccount(good))))
        self.assert_refused(k.SettlePos("s", "u", "1", 1, k.Currency.EUR, "t", "bad id"))

    def test_currencies(self):
        for bad in [0, 1, 999, "XXX", "eur", True, 978.0, 2**16 + 978]:
            self.assert_refused(k.OpenAccount("a", bad))
        for good in [k.Currency.EUR, 978, "EUR", 36, "ZAR"]:
            k.encode_request(k.Request(1, k.Submit(k.OpenAccount("a", good))))

    def test_integers_and_types(self):
        self.assert_refused(k.Deposit("d", "a", -1))
        self.assert_refused(k.Deposit("d", "a", 2**64))
        self.assert_refused(k.Deposit("d", "a", True))
        self.assert_refused(k.AddBillItem("b", "t", "x", 2**32, 1))
        self.assert_refused(k.RedeemCoupon("r", "o", "c", 1, k.GeoPoint(2**31, 0)))
        self.assert_refused(k.SettlePos("s", "u", "1", 1, k.Currency.EUR, "t", None, None, k.GeoPoint(0, -(2**31) - 1)))
        self.assert_refused(k.ConfirmBill("b", "c", None, (1, 2)))
        self.assert_refused(k.TransferBatch(1, []))
        self.assert_refused(k.RegisterApiKey("k", k.AdminRole(), b"short"))
        self.assert_refused(k.IssueCoupon("c", "m", "h", 978, k.DeductionRule(k.PercentOff("1e5", None), 0), [], 0, 1, None, 0))
        self.assert_refused(k.TransferBatch(True, [k.Deposit("d", "a", 1)]))

    def test_metadata(self):
        transfer = k.Transfer("t", "a", "b", 1, k.Currency.EUR)

        def encode(metadata):
            return k.encode_request(k.Request(1, k.SubmitWithMetadata(transfer, metadata)))

        for bad in [
            {f"k{n}": "v" for n in range(17)},  # 17 entries
            {"": "v"},  # empty key
            {"has space": "v"},
            {"k" * 41: "v"},  # 41-byte key
            {"é": "v"},
            {"a/b": "v"},
            [("k", "1"), ("k", "2")],  # the same key twice
            {"k": "v" * 501},  # 501-byte value
            {"k": "€" * 501},  # 501 characters (1,503 bytes)
            {"k": "line\nbreak"},
            {"k": "nul\0"},
            {"k": "del\x7f"},
            {"k": "c1\x85"},
            {"k": "\ud800"},  # not encodable as UTF-8
            {"k": 1},
            {1: "v"},
            [("k",)],
            "k=v",
            {"k", "v"},
        ]:
            with self.subTest(bad=repr(bad)[:60]):
                self.assertRaises(k.ValidationError, encode, bad)
                self.assertNotEqual(k.metadata_problem(bad), "")
                self.assertRaises(k.ValidationError, k.validate_metadata, bad)
        for good in [
            {f"k{n}": "v" * 500 for n in range(16)},
            {"k": "€" * 500},  # 500 characters: the limit counts characters, not bytes
            {"k" * 40: "", "A-Z.0_9:": "café ☕ \u00a0 \u2028"},
            [("b", "2"), ("a", "1")],
            {},
        ]:
            with self.subTest(good=repr(good)[:60]):
                request = k.decode_request_frame(encode(good))
                self.assertEqual(request.body.metadata, dict(good))
                self.assertEqual(list(request.body.metadata), sorted(dict(good)))
                self.assertEqual(k.validate_metadata(good), dict(sorted(dict(good).items())))

    def test_batch_sizes_and_frame_limits(self):
        self.assertRaises(k.ValidationError, k.encode_request, k.Request(1, k.Batch([])))
        self.assertRaises(k.ValidationError, k.encode_request, k.Request(1, k.Batch([k.Tick()] * 8191)))
        k.encode_request(k.Request(1, k.Batch([k.Tick()] * 8190)))
        big = [k.Transfer("t" * 64, "a" * 64, "b" * 64, 1, 978)] * 6000
        self.assertRaises(k.RequestTooLargeError, k.encode_request, k.Request(1, k.Batch(big)))
        self.assertRaises(k.RequestTooLargeError, k.encode_request, k.Request(1, k.Hello(1, "k" * 4100)))


def response_frame(body_hex: str) -> bytes:
    body = bytes.fromhex(body_hex)
    return len(body).to_bytes(4, "big") + body


class HostileInputTest(unittest.TestCase):
    def assert_decode_error(self, error_type, body_hex):
        with self.assertRaises(error_type):
            k.decode_response_frame(response_frame(body_hex))

    def test_truncated_frames(self):
        frame = k.encode_response(k.Response(2**40, k.OutcomesResponse([k.Applied(r) for r in every_reply()])))
        for cut in range(len(frame)):
            with self.assertRaises(errors.TruncatedError):
                k.decode_response_frame(frame[:cut])
            if cut > 4:  # a frame whose body is cut short, re-prefixed with the shorter length
                with self.assertRaises(errors.DecodeError):
                    k.decode_response_body(frame[4:cut])
        request = k.encode_request(k.Request(3, k.Batch(every_command())))
        for cut in range(5, len(request)):
            with self.assertRaises(errors.DecodeError):
                k.decode_request_body(request[4:cut])

    def test_unknown_variants(self):
        self.assert_decode_error(errors.UnknownVariantError, "01 01 05")  # ResponseBody 5
        self.assert_decode_error(errors.UnknownVariantError, "01 01 01 03")  # Outcome 3
        # Outcome 2, BatchRejected { leg: 4, rejection: InsufficientFunds }, decodes.
        batch = k.decode_response_body(bytes.fromhex("01 01 01 02 04 09")).body.outcome
        self.assertEqual(batch, k.BatchRejected(4, k.Rejection.InsufficientFunds))
        self.assertFalse(batch.is_applied)
        self.assert_decode_error(errors.UnknownVariantError, "01 01 01 00 10")  # Reply 16
        self.assert_decode_error(errors.UnknownVariantError, "01 01 01 01 3b")  # Rejection 59
        self.assert_decode_error(errors.UnknownVariantError, "01 01 04 09 00")  # ErrorCode 9
        with self.assertRaises(errors.UnknownVariantError):
            k.decode_request_body(bytes.fromhex("01 01 01 23"))  # Command 35
        with self.assertRaises(errors.UnknownVariantError):
            k.decode_request_body(bytes.fromhex("01 01 05"))  # RequestBody 5

    def test_bad_tags_strings_and_values(self):
        self.assert_decode_error(errors.InvalidBoolError, "01 01 01 00 08 05 02")  # SharePaid.completed = 2
        self.assert_decode_error(errors.InvalidOptionTagError, "01 01 01 00 0b 01 02 02")  # reward_coupon tag 2
        self.assert_decode_error(errors.InvalidUtf8Error, "01 01 04 06 02 c3 28")  # message bytes c3 28
        self.assert_decode_error(errors.InvalidValueError, "01 01 01 00 0b 01 02 01 03 61 20 62")  # id "a b"
        self.assert_decode_error(errors.InvalidVarintError, "01 01 00 fc 01 00 00 00 00")  # u16 as 0xFC
        self.assert_decode_error(errors.InvalidVarintError, "01 fe 00")  # 0xFE request id
        self.assert_decode_error(errors.InvalidVarintError, "01 01 01 00 fd 00 00 00 00 00 00 00 00")  # index as u64
        self.assert_decode_error(errors.UnknownFormatVersionError, "02 01 03")
        self.assert_decode_error(errors.TruncatedError, "01 01 04 06 fd 00 00 00 00 00 00 00 10")  # 2^60-byte string
        with self.assertRaises(errors.InvalidValueError):
            k.decode_request_body(bytes.fromhex("01 01 01 00 01 61 01 00"))  # OpenAccount currency 1

    def test_bad_metadata(self):
        tick = "01 01 04 1e"  # request 1, SubmitWithMetadata, Command::Tick, then the metadata
        for metadata_hex in [
            "01 00 00",  # empty key
            "01 03 612062 00",  # key "a b"
            "01 01 6b 01 0a",  # value "\n"
            "02 01 6b 00 01 6b 00",  # key "k" twice
            "11" + "".join(f" 02 6b {0x61 + n:02x} 00" for n in range(17)),  # 17 entries
            "01 01 6b " + "fb f501" + "76" * 501,  # 501-byte value
        ]:
            with self.subTest(metadata_hex):
                with self.assertRaises(errors.InvalidValueError):
                    k.decode_request_body(bytes.fromhex(tick + metadata_hex))
        with self.assertRaises(errors.TruncatedError):
            k.decode_request_body(bytes.fromhex(tick + "fd ffffffffffffffff"))  # a hostile count
        unordered = k.decode_request_body(bytes.fromhex(tick + "02 0162 00 0161 00"))  # out of order: accepted
        self.assertEqual(list(unordered.body.metadata), ["a", "b"])

    def test_trailing_bytes_and_bad_lengths(self):
        self.assert_decode_error(errors.TrailingBytesError, "01 09 03 00")
        with self.assertRaises(errors.TrailingBytesError):
            k.decode_response_frame(bytes.fromhex("00000003 01 09 03 00"))
        with self.assertRaises(errors.OversizeFrameError):
            k.decode_response_frame(bytes.fromhex("00100001") + b"\x01" * 8)
        with self.assertRaises(errors.EmptyFrameError):
            k.decode_response_frame(bytes.fromhex("00000000"))
        with self.assertRaises(errors.EmptyFrameError):
            k.decode_response_body(b"")

    def test_random_and_corrupted_input_only_raises_decode_errors(self):
        rng = random.Random(7)
        corpus = [k.encode_response(k.Response(9, k.OutcomesResponse([k.Applied(r) for r in every_reply()])))]
        corpus.append(k.encode_request(k.Request(9, k.Batch(every_command()))))
        metadata = {"order_id": "A-1", "note": "café", "x": ""}
        corpus.append(k.encode_request(k.Request(9, k.SubmitWithMetadata(every_command()[13], metadata))))
        for _ in range(3000):
            frame = bytearray(rng.choice(corpus))
            for _ in range(rng.randint(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
            for decode in (k.decode_response_frame, k.decode_request_frame):
                try:
                    decode(bytes(frame))
                except errors.DecodeError:
                    pass
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
            for decode in (k.decode_response_body, k.decode_request_body):
                try:
                    decode(b"\x01" + noise)
                except errors.DecodeError:
                    pass

    def test_outcome_reader_is_exact(self):
        src = Reader(bytes.fromhex("01 09"))
        self.assertEqual(OUTCOME.read(src), k.Rejected(k.Rejection.InsufficientFunds))
        self.assertEqual(src.remaining(), 0)


if __name__ == "__main__":
    unittest.main()
