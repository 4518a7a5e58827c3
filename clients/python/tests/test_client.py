"""The client's behaviour against a scripted server: pipelining, Busy retries, timeouts, error
mapping, reconnect and resend. Deterministic; no kassa binary needed."""

import socket
import time
import unittest

import kassa_client as k
from kassa_client.messages import ErrorCode, OutcomeResponse, OutcomesResponse, Pong, Response

from .fake_server import CLOSE, FakeServer, error

APPLIED = k.Applied(k.Done())
FAST = dict(
    busy_backoff_initial=0.001,
    busy_backoff_max=0.01,
    reconnect_backoff_initial=0.01,
    reconnect_backoff_max=0.05,
    request_timeout=5.0,
)


def answer(request):
    """What a healthy server answers."""
    body = request.body
    if isinstance(body, (k.Submit, k.SubmitWithMetadata)):
        return [Response(request.request_id, OutcomeResponse(APPLIED))]
    if isinstance(body, k.Batch):
        return [Response(request.request_id, OutcomesResponse([APPLIED] * len(body.commands)))]
    return [Response(request.request_id, Pong())]


def healthy(_, request):
    return answer(request)


def transfer(number):
    return k.Transfer(f"t-{number}", "alice", "bob", 1, k.Currency.EUR)


class ClientTestCase(unittest.TestCase):
    def serve(self, handler, **options):
        server = FakeServer(handler, options.pop("hello_error", None))
        self.addCleanup(server.stop)
        if options.pop("no_connect", False):
            return server, None
        client = k.connect("127.0.0.1", server.port, "key", **{**FAST, **options})
        self.addCleanup(client.close, 0)
        return server, client


class HandshakeTest(ClientTestCase):
    def test_refusals_raise_the_specific_error(self):
        for code, error_type in [
            (ErrorCode.Unauthenticated, k.UnauthenticatedError),
            (ErrorCode.UnsupportedVersion, k.UnsupportedVersionError),
            (ErrorCode.Busy, k.BusyError),
        ]:
            server, _ = self.serve(healthy, hello_error=code, no_connect=True)
            with self.assertRaises(error_type):
                k.connect("127.0.0.1", server.port, "key", connect_timeout=2)

    def test_no_welcome_in_time_is_a_connect_timeout(self):
        silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
        self.addCleanup(silent.close)
        started = time.monotonic()
        with self.assertRaises(k.ConnectTimeoutError):
            k.connect("127.0.0.1", silent.getsockname()[1], "key", connect_timeout=0.3)
        self.assertLess(time.monotonic() - started, 3)

    def test_hello_is_the_first_frame(self):
        server, client = self.serve(healthy)
        client.ping()
        self.assertIsInstance(server.requests[0][1].body, k.Ping)


class PipeliningTest(ClientTestCase):
    def test_replies_in_any_order_are_matched_by_request_id(self):
        held = []

        def reverse_in_tens(_, request):
            held.append(request)
            if len(held) < 10:
                return []
            replies = [
                Response(r.request_id, OutcomeResponse(k.Rejected(k.Rejection(int(r.body.command.id[2:])))))
                for r in reversed(held)
            ]
            held.clear()
            return replies

        _, client = self.serve(reverse_in_tens)
        futures = [client.submit_async(transfer(n)) for n in range(50)]
        results = [future.result(5) for future in futures]
        self.assertEqual(results, [k.Rejected(k.Rejection(n)) for n in range(50)])

    def test_batch_and_ping(self):
        _, client = self.serve(healthy)
        self.assertEqual(client.submit_batch([transfer(1), k.Tick()]), [APPLIED, APPLIED])
        self.assertIsNone(client.ping())

    def test_invalid_values_raise_before_sending(self):
        server, client = self.serve(healthy)
        with self.assertRaises(k.ValidationError):
            client.submit(k.Transfer("bad id", "a", "b", 1, k.Currency.EUR))
        with self.assertRaises(k.ValidationError):
            client.submit_batch([])
        client.ping()
        self.assertEqual(len(server.requests), 1)



INVALID_METADATA = [
    {f"k{n}": "v" for n in range(17)},  # 17 entries
    {"": "v"},  # empty key
    {"has space": "v"},
    {"k" * 41: "v"},  # 41-byte key
    [("k", "1"), ("k", "2")],  # the same key twice
    {"k": "v" * 501},  # 501-byte value
    {"k": "line\nbreak"},
]


class MetadataTest(ClientTestCase):
    def test_metadata_is_sent_with_the_command(self):
        server, client = self.serve(healthy)
        self.assertEqual(client.submit(transfer(1), metadata={"order_id": "A-1", "channel": "web"}), APPLIED)
        self.assertEqual(client.submit_async(transfer(2), 5, metadata=[("order_id", "A-2")]).result(5), APPLIED)
        self.assertEqual(client.submit(transfer(3), metadata={}), APPLIED)  # empty: a plain Submit
        self.assertEqual(client.submit(transfer(4)), APPLIED)
        bodies = [request.body for _, request in server.requests]
        self.assertEqual(
            bodies,
            [
                k.SubmitWithMetadata(transfer(1), {"channel": "web", "order_id": "A-1"}),
                k.SubmitWithMetadata(transfer(2), {"order_id": "A-2"}),
                k.Submit(transfer(3)),
                k.Submit(transfer(4)),
            ],
        )

    def test_invalid_metadata_raises_before_sending(self):
        server, client = self.serve(healthy)
        for metadata in INVALID_METADATA:
            with self.subTest(metadata=repr(metadata)[:60]):
                with self.assertRaises(k.ValidationError):
                    client.submit(transfer(1), metadata=metadata)
                with self.assertRaises(k.ValidationError):
                    client.submit_async(transfer(1), metadata=metadata)
        client.ping()
        self.assertEqual([type(request.body) for _, request in server.requests], [k.Ping])

    def test_busy_retries_and_resends_keep_the_metadata(self):
        def busy_then_drop(number, request):
            if number == 1 and len(server.requests) == 1:
                return [error(request.request_id, ErrorCode.Busy)]
            if number == 1:
                return [CLOSE]
            return answer(request)

        server, client = self.serve(busy_then_drop)
        self.assertEqual(client.submit(transfer(1), metadata={"order_id": "A-1"}), APPLIED)
        self.assertEqual([number for number, _ in server.requests], [1, 1, 2])
        self.assertEqual(len(set(server.raw_frames)), 1)  # the same frame, metadata included
        self.assertEqual(server.requests[-1][1].body, k.SubmitWithMetadata(transfer(1), {"order_id": "A-1"}))
        self.assertEqual((client.stats.busy_retries, client.stats.reconnects, client.stats.resent), (1, 1, 1))


class BusyTest(ClientTestCase):
    def test_busy_is_retried_with_the_same_frame(self):
        def busy_three_times(_, request):
            if len(server.requests) <= 3:
                return [error(request.request_id, ErrorCode.Busy)]
            return answer(request)

        server, client = self.serve(busy_three_times)
        self.assertEqual(client.submit(transfer(1)), APPLIED)
        self.assertEqual(len(server.requests), 4)
        self.assertEqual(len(set(server.raw_frames)), 1)

    def test_busy_beyond_the_limit_fails(self):
        server, client = self.serve(lambda _, r: [error(r.request_id, ErrorCode.Busy)], busy_retries=2)
        with self.assertRaises(k.BusyError):
            client.submit(transfer(1))
        self.assertEqual(len(server.requests), 3)


class ErrorMappingTest(ClientTestCase):
    def test_request_errors_fail_only_their_call(self):
        codes = {
            "t-1": (ErrorCode.InvalidBatch, k.InvalidBatchError),
            "t-2": (ErrorCode.FrameTooLarge, k.FrameTooLargeError),
            "t-3": (ErrorCode.StorageFailed, k.StorageFailedError),
        }

        def scripted(_, request):
            code = codes.get(request.body.command.id)
            return [error(request.request_id, code[0], "detail")] if code else answer(request)

        _, client = self.serve(scripted)
        for number, (code, error_type) in enumerate(codes.values(), start=1):
            with self.assertRaises(error_type) as raised:
                client.submit(transfer(number))
            self.assertEqual(raised.exception.code, code)
            self.assertEqual(raised.exception.message, "detail")
        self.assertEqual(client.submit(transfer(9)), APPLIED)

    def test_wrong_reply_kind_is_a_protocol_error(self):
        _, client = self.serve(lambda _, r: [Response(r.request_id, Pong())])
        with self.assertRaises(k.ProtocolError):
            client.submit(transfer(1))

    def test_revoked_key_fails_everything_and_closes(self):
        _, client = self.serve(lambda _, r: [error(r.request_id, ErrorCode.Unauthenticated)])
        with self.assertRaises(k.UnauthenticatedError):
            client.submit(transfer(1))
        self.assertTrue(client.closed)
        with self.assertRaises(k.ConnectionClosedError):
            client.ping()


class TimeoutTest(ClientTestCase):
    def test_a_call_times_out_and_its_late_reply_is_dropped(self):
        late = []

        def slow_first(_, request):
            if not late:
                late.append(request)
                return []
            return [Response(late[0].request_id, OutcomeResponse(k.Rejected(k.Rejection.Expired)))] + answer(request)

        _, client = self.serve(slow_first)
        started = time.monotonic()
        with self.assertRaises(k.RequestTimeoutError):
            client.submit(transfer(1), timeout=0.2)
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(client.submit(transfer(2)), APPLIED)  # the late Expired went nowhere
        client.ping()


class ReconnectTest(ClientTestCase):
    def test_dropped_connection_is_reestablished_and_unanswered_requests_resent(self):
        def drop_first_connection(number, request):
            if number == 1 and len(server.requests) == 5:
                return [CLOSE]
            return [] if number == 1 else answer(request)

        server, client = self.serve(drop_first_connection)
        futures = [client.submit_async(transfer(n)) for n in range(5)]
        self.assertEqual([future.result(5) for future in futures], [APPLIED] * 5)
        first = [r for n, r in server.requests if n == 1]
        resent = [r for n, r in server.requests if n == 2]
        self.assertEqual([r.body for r in resent], [r.body for r in first])  # same commands, same order
        self.assertEqual(server.connections, 2)

    def test_without_reconnect_pending_calls_fail(self):
        _, client = self.serve(lambda n, r: [CLOSE], reconnect=False)
        with self.assertRaises(k.ConnectionClosedError):
            client.submit(transfer(1))
        self.assertTrue(client.closed)

    def test_gives_up_after_the_attempt_limit(self):
        server, client = self.serve(lambda n, r: [CLOSE], reconnect_attempts=2)
        future = client.submit_async(transfer(1))
        time.sleep(0.05)
        server.stop()
        with self.assertRaises(k.ConnectionClosedError):
            future.result(5)

    def test_malformed_frame_error_fails_the_sent_calls_instead_of_resending(self):
        def malformed(number, request):
            return [error(0, ErrorCode.MalformedFrame), CLOSE] if number == 1 else answer(request)

        server, client = self.serve(malformed)
        with self.assertRaises(k.MalformedFrameError):
            client.submit(transfer(1))

    def test_shutting_down_is_resent_after_reconnecting(self):
        def shutting_down(number, request):
            if number == 1:
                return [error(request.request_id, ErrorCode.ShuttingDown)]
            return answer(request)

        server, client = self.serve(shutting_down)
        future = client.submit_async(transfer(1))
        time.sleep(0.1)
        self.assertFalse(future.done())
        server.stop_connections()
        self.assertEqual(future.result(5), APPLIED)


if __name__ == "__main__":
    unittest.main()
