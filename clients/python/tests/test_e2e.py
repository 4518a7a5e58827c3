"""End to end against a real `kassa serve` ($KASSA_BIN): accounts, pipelined transfers, batches,
idempotent repeats, metadata, rejections, tenants, Busy, and a SIGKILL + restart mid-stream.
Skipped when KASSA_BIN is not set (run-tests.sh always sets it)."""

import socket
import threading
import time
import unittest

import kassa_client as k

from .kassa_server import ADMIN_KEY, KassaServer, kassa_bin

EUR = k.Currency.EUR
APPLIED = k.Applied(k.Done())
BINARY = kassa_bin()
skip_without_server = unittest.skipUnless(BINARY, "KASSA_BIN is not set to a kassa binary")


class LiveTestCase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = KassaServer(BINARY, *cls.server_args)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()

    def connect(self, key=ADMIN_KEY, **options):
        client = k.connect("127.0.0.1", self.server.tcp_port, key, **options)
        self.addCleanup(client.close, 1)
        return client

    def open_pair(self, client, prefix, deposit):
        """Opens `<prefix>-a` (with `deposit`) and `<prefix>-b`, both EUR."""
        a, b = f"{prefix}-a", f"{prefix}-b"
        outcomes = client.submit_batch(
            [k.OpenAccount(a, EUR), k.OpenAccount(b, EUR), k.Deposit(f"{prefix}-dep", a, deposit)]
        )
        self.assertEqual(outcomes, [APPLIED] * 3)
        return a, b


@skip_without_server
class LiveServerTest(LiveTestCase):
    def test_pipelined_transfers(self):
        client = self.connect()
        a, b = self.open_pair(client, "pipe", 100_000)
        futures = [client.submit_async(k.Transfer(f"pipe-t{n}", a, b, 7, EUR)) for n in range(2000)]
        self.assertEqual({f.result(30) for f in futures}, {APPLIED})
        self.assertEqual((self.server.balance(a), self.server.balance(b)), (100_000 - 14_000, 14_000))

    def test_batch_and_transfer_batch(self):
        client = self.connect()
        a, b = self.open_pair(client, "batch", 1_000)
        outcomes = client.submit_batch([k.Transfer("batch-t1", a, b, 400, EUR), k.Tick(), k.Transfer("batch-t2", a, b, 10**9, EUR)])
        self.assertEqual(outcomes[0], APPLIED)
        self.assertIsInstance(outcomes[1].reply, k.Ticked)
        self.assertEqual(outcomes[2], k.Rejected(k.Rejection.InsufficientFunds))
        loose = k.TransferBatch(False, [k.Transfer("batch-t3", a, b, 100, EUR), k.Transfer("batch-t4", b, a, 10**9, EUR)])
        self.assertEqual(
            client.submit(loose),
            k.Applied(k.TransferBatchOutcomes([APPLIED, k.Rejected(k.Rejection.InsufficientFunds)])),
        )
        self.assertEqual(self.server.balance(b), 500)

    def test_repeated_id_gives_the_same_outcome(self):
        client = self.connect()
        a, b = self.open_pair(client, "repeat", 1_000)
        transfer = k.Transfer("repeat-t1", a, b, 250, EUR)
        self.assertEqual([client.submit(transfer) for _ in range(3)], [APPLIED] * 3)
        self.assertEqual(self.server.balance(b), 250)
        reused = k.Transfer("repeat-t1", a, b, 251, EUR)
        self.assertEqual(client.submit(reused), k.Rejected(k.Rejection.IdReused))

    def test_metadata(self):
        client = self.connect()
        a, b = self.open_pair(client, "meta", 1_000)
        transfer = k.Transfer("meta-t1", a, b, 100, EUR)
        self.assertEqual(client.submit(transfer, metadata={"order_id": "A-1"}), APPLIED)
        # A retry with other metadata answers the first outcome; the first metadata stays.
        self.assertEqual(client.submit(transfer, metadata={"order_id": "B-2", "retry": "1"}), APPLIED)
        self.assertEqual((self.server.balance(a), self.server.balance(b)), (900, 100))
        status, found = self.server.http("GET", "/v1/transfers/meta-t1")
        self.assertEqual(status, 200, found)
        self.assertEqual(found["metadata"], {"order_id": "A-1"})
        unsupported = client.submit(k.Deposit("meta-dep2", a, 5), metadata={"order_id": "A-3"})
        self.assertEqual(unsupported, k.Rejected(k.Rejection.MetadataNotSupported))
        self.assertEqual(unsupported.rejection.code, "metadata_not_supported")
        self.assertEqual(self.server.balance(a), 900)  # nothing applied
        with self.assertRaises(k.ValidationError):  # refused before sending: the connection stays
            client.submit(k.Transfer("meta-t2", a, b, 1, EUR), metadata={"bad key": "v"})
        self.assertEqual(client.submit(k.Transfer("meta-t3", a, b, 1, EUR), metadata={}), APPLIED)
        self.assertIsNone(client.ping())

    def test_rejections_and_ping(self):
        client = self.connect()
        a, b = self.open_pair(client, "reject", 10)
        self.assertEqual(client.submit(k.Transfer("reject-t1", a, b, 11, EUR)), k.Rejected(k.Rejection.InsufficientFunds))
        self.assertEqual(client.submit(k.Transfer("reject-t2", a, "nobody", 1, EUR)), k.Rejected(k.Rejection.CounterpartyNotFound))
        self.assertEqual(client.submit(k.OpenAccount(a, EUR)), APPLIED)  # idempotent for its owner
        self.assertIsNone(client.ping())

    def test_forbidden_across_tenants(self):
        admin = self.connect()
        a, _ = self.open_pair(admin, "tenant", 1_000)
        status, created = self.server.http("POST", "/v1/keys", {"role": "app", "app": "my-app"})
        self.assertEqual(status, 200, created)
        app = self.connect(created["key"])
        self.assertEqual(app.submit(k.OpenAccount("tenant-app", EUR)), APPLIED)
        forbidden = k.Rejected(k.Rejection.Forbidden)
        self.assertEqual(app.submit(k.Transfer("tenant-t1", a, "tenant-app", 1, EUR)), forbidden)
        self.assertEqual(app.submit(k.Deposit("tenant-dep", "tenant-app", 5)), forbidden)
        self.assertEqual(self.server.balance(a), 1_000)
        status, _ = self.server.http("DELETE", f"/v1/keys/{created['key_id']}")
        self.assertIn(status, (200, 204))
        with self.assertRaises(k.UnauthenticatedError):
            app.submit(k.Tick())
        self.assertTrue(app.closed)

    def test_handshake_refusals(self):
        with self.assertRaises(k.UnauthenticatedError):
            k.connect("127.0.0.1", self.server.tcp_port, "kassa_nope_nope")

    def test_server_errors_on_raw_frames(self):
        """Frames this client refuses to send, written by hand: the server's Error replies decode."""
        with socket.create_connection(("127.0.0.1", self.server.tcp_port), timeout=10) as sock:
            sock.sendall(k.encode_request(k.Request(1, k.Hello(1, ADMIN_KEY))))
            sock.sendall(bytes.fromhex("00000004 01 02 02 00"))  # Batch of 0 commands, request 2
            sock.sendall(bytes.fromhex("00000000"))  # an empty frame
            replies = {reply.request_id: reply.body for reply in read_responses(sock, 3)}
        self.assertIsInstance(replies[1], k.Welcome)  # the error may come before the batch's reply
        self.assertEqual(replies[2].code, k.ErrorCode.InvalidBatch)
        self.assertEqual(replies[0].code, k.ErrorCode.MalformedFrame)


def read_responses(sock, count):
    frames, responses = k.FrameBuffer(), []
    while len(responses) < count:
        data = sock.recv(65536)
        if not data:
            break
        responses += [k.decode_response_body(body) for body in frames.feed(data)]
    return responses


@skip_without_server
class BusyServerTest(LiveTestCase):
    server_args = ("--mailbox-max", "1")

    def test_busy_is_signalled_and_retried(self):
        client = self.connect(busy_retries=0)
        a, b = self.open_pair(client, "busy", 100_000)
        futures = [client.submit_async(k.Transfer(f"busy-x{n}", a, b, 1, EUR)) for n in range(300)]
        busy = sum(isinstance(f.exception(30), k.BusyError) for f in futures)
        self.assertGreater(busy, 0)
        patient = self.connect(busy_retries=200, busy_backoff_initial=0.002, busy_backoff_max=0.05)
        futures = [patient.submit_async(k.Transfer(f"busy-t{n}", a, b, 1, EUR)) for n in range(300)]
        self.assertEqual({f.result(60) for f in futures}, {APPLIED})
        self.assertGreater(patient.stats.busy_retries, 0)
        self.assertEqual(self.server.balance(b), 300 + 300 - busy)


@skip_without_server
class RestartTest(LiveTestCase):
    TRANSFERS = 3000

    def test_sigkill_mid_stream_then_reconnect_and_resend(self):
        client = self.connect(request_timeout=60, reconnect_backoff_max=0.5, reconnect_attempts=100)
        a, b = self.open_pair(client, "crash", 1_000_000)
        transfers = [k.Transfer(f"crash-t{n}", a, b, 1, EUR) for n in range(self.TRANSFERS)]
        futures = []
        feeder = threading.Thread(target=self.feed, args=(client, transfers, futures))
        feeder.start()
        self.wait_until(lambda: sum(f.done() for f in list(futures)) >= self.TRANSFERS // 10)
        self.server.freeze()  # SIGSTOP: what is sent from now on stays unanswered...
        time.sleep(0.05)
        self.server.kill()  # ...then SIGKILL, mid-stream
        self.assertLess(sum(f.done() for f in list(futures)), self.TRANSFERS, "killed mid-stream")
        self.server.start()
        feeder.join(60)
        first = [f.result(60) for f in futures]
        self.assertEqual(set(first), {APPLIED})
        self.assertGreaterEqual(client.stats.reconnects, 1)
        self.assertGreater(client.stats.resent, 0)
        again = [f.result(60) for f in [client.submit_async(t) for t in transfers]]
        self.assertEqual(again, first)  # resent and repeated transfers answer as the originals
        self.assertEqual((self.server.balance(a), self.server.balance(b)), (1_000_000 - self.TRANSFERS, self.TRANSFERS))

    @staticmethod
    def feed(client, transfers, futures):
        """Submits the transfers in small bursts, so that the kill lands mid-stream."""
        for start in range(0, len(transfers), 25):
            futures.extend(client.submit_async(t) for t in transfers[start : start + 25])
            time.sleep(0.004)

    @staticmethod
    def wait_until(condition, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.001)


if __name__ == "__main__":
    unittest.main()
