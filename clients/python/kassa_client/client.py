"""The pipelining client: many requests in flight on one connection, replies matched by
request id, Busy retried with backoff, dropped connections re-established and unanswered
requests resent with the same commands (kassa's commands are idempotent by client-chosen id).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .commands import Command
from .connection import Connection
from .errors import (
    ConnectionClosedError,
    FrameTooLargeError,
    KassaError,
    MalformedFrameError,
    ProtocolError,
    RequestTimeoutError,
    UnauthenticatedError,
    UnsupportedVersionError,
    server_error,
)
from .messages import (
    Batch,
    ErrorCode,
    ErrorResponse,
    OutcomeResponse,
    OutcomesResponse,
    Ping,
    Pong,
    Request,
    RequestBody,
    Response,
    Submit,
    SubmitWithMetadata,
    encode_request,
)
from .types import MetadataInput, Outcome

FATAL_ERRORS = (UnauthenticatedError, UnsupportedVersionError)


@dataclass
class ClientOptions:
    """Tuning of a Client. Times are in seconds."""

    connect_timeout: float = 10.0
    """Limit for TCP connect plus handshake, per attempt."""
    request_timeout: Optional[float] = 30.0
    """Default per-call timeout (None: wait for ever)."""
    busy_retries: int = 8
    """Resends of a request answered Busy before the call fails with BusyError."""
    busy_backoff_initial: float = 0.005
    busy_backoff_max: float = 1.0
    reconnect: bool = True
    """Re-establish a dropped connection and resend every unanswered request."""
    reconnect_attempts: int = 20
    """Consecutive failed connection attempts before every pending call fails."""
    reconnect_backoff_initial: float = 0.05
    reconnect_backoff_max: float = 2.0
    tcp_nodelay: bool = True


@dataclass
class ClientStats:
    """Counters of what the client did on its own, for monitoring and tests."""

    busy_retries: int = 0
    """Requests resent after a Busy answer."""
    reconnects: int = 0
    """Connections re-established after one was lost."""
    resent: int = 0
    """Unanswered requests resent on a new connection."""
    timeouts: int = 0
    """Calls that failed with RequestTimeoutError."""


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: a random delay in [c/2, c], c = min(max, initial * 2^n)."""
    ceiling = min(maximum, initial * (2 ** min(attempt, 32)))
    return rng.uniform(ceiling / 2, ceiling)


@dataclass(eq=False)
class _Call:
    """One request until its future is settled."""

    request_id: int
    frame: bytes
    expects: type
    future: Future
    deadline: Optional[float]
    busy_attempts: int = 0
    state: str = "queued"  # queued: to send on the next connection; sent; backoff: timer set
    connection: Optional[Connection] = None


Settlement = Tuple[Future, bool, Any]  # (future, ok, result or exception)


@dataclass(order=True)
class _Timer:
    when: float
    sequence: int
    call: _Call = field(compare=False)
    action: Callable[[], List[Settlement]] = field(compare=False)


class Client:
    """A kassa connection shared by any number of threads. Use `connect()` to make one."""

    def __init__(self, host: str, port: int, api_key: str, options: Optional[ClientOptions] = None) -> None:
        self.host, self.port, self._api_key = host, port, api_key
        self.options = options or ClientOptions()
        self._lock = threading.Lock()
        self._timers_changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._timer_ids = itertools.count()
        self._pending: Dict[int, _Call] = {}
        self._timers: List[_Timer] = []
        self._connection: Optional[Connection] = None
        self._failure: Optional[BaseException] = None  # set once the client is closed for good
        self._reconnecting = False
        self._random = random.Random()
        self.stats = ClientStats()
        self._timer_thread = threading.Thread(target=self._timer_loop, name="kassa-timers", daemon=True)

    # ----- lifecycle -----------------------------------------------------------------------

    def _open(self) -> None:
        """The first connection; errors are raised to the caller of `connect()`."""
        self._connection = self._new_connection()
        self._timer_thread.start()

    def _new_connection(self) -> Connection:
        with self._lock:
            hello_id = next(self._ids)
        return Connection.open(
            self.host,
            self.port,
            self._api_key,
            hello_id,
            self.options.connect_timeout,
            self._on_response,
            self._on_lost,
            self.options.tcp_nodelay,
        )

    @property
    def closed(self) -> bool:
        return self._failure is not None

    def close(self, drain_timeout: float = 5.0) -> None:
        """Waits up to `drain_timeout` seconds for pending calls, fails the rest with
        ConnectionClosedError, and closes the connection."""
        deadline = time.monotonic() + drain_timeout
        while self._pending and time.monotonic() < deadline and not self.closed:
            time.sleep(0.005)
        self._shut_down(ConnectionClosedError("client closed"))
        if self._timer_thread.is_alive() and self._timer_thread is not threading.current_thread():
            self._timer_thread.join(1.0)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _shut_down(self, error: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = error
            connection, self._connection = self._connection, None
            settlements = self._fail_all_locked(error)
            self._timers_changed.notify_all()
        if connection is not None:
            connection.close()
            connection.join(1.0)
        _settle(settlements)

    # ----- calls ---------------------------------------------------------------------------

    def submit_async(
        self, command: Command, timeout: Optional[float] = None, *, metadata: Optional[MetadataInput] = None
    ) -> "Future[Outcome]":
        """Sends one command; the future resolves to its Outcome. Invalid values raise
        ValidationError here, before anything is sent.

        `metadata` (a mapping, or a list of (key, value) pairs: at most 16 entries, keys of
        1..=40 bytes of [A-Za-z0-9._:-], values of at most 500 characters without control characters)
        is attached to the transfer, hold, POS settlement, bill or split the command creates
        (RequestBody::SubmitWithMetadata); any other command is answered
        Rejected(MetadataNotSupported). None or empty sends a plain Submit. A retry of an id that
        already applied keeps the first metadata."""
        body = SubmitWithMetadata(command, metadata) if metadata else Submit(command)
        return self._call(body, OutcomeResponse, timeout)

    def submit_batch_async(self, commands: Sequence[Command], timeout: Optional[float] = None) -> "Future[List[Outcome]]":
        """Sends 1..=8190 commands as one engine batch; resolves to their outcomes, in order."""
        return self._call(Batch(list(commands)), OutcomesResponse, timeout)

    def ping_async(self, timeout: Optional[float] = None) -> "Future[None]":
        """Sends a Ping; resolves to None on Pong."""
        return self._call(Ping(), Pong, timeout)

    def submit(
        self, command: Command, timeout: Optional[float] = None, *, metadata: Optional[MetadataInput] = None
    ) -> Outcome:
        """Sends one command and waits for its Outcome (timeout: seconds; None = the default;
        metadata: as for `submit_async`)."""
        return self.submit_async(command, timeout, metadata=metadata).result()

    def submit_batch(self, commands: Sequence[Command], timeout: Optional[float] = None) -> List[Outcome]:
        """Sends a batch and waits for its outcomes."""
        return self.submit_batch_async(commands, timeout).result()

    def ping(self, timeout: Optional[float] = None) -> None:
        """Round trip to the server (the engine is not involved)."""
        self.ping_async(timeout).result()

    def _call(self, body: RequestBody, expects: type, timeout: Optional[float]) -> Future:
        limit = self.options.request_timeout if timeout is None else timeout
        with self._lock:
            request_id = next(self._ids)
        frame = encode_request(Request(request_id, body))  # ValidationError before anything else
        future: Future = Future()
        future.set_running_or_notify_cancel()
        deadline = None if limit is None else time.monotonic() + limit
        call = _Call(request_id, frame, expects, future, deadline)
        with self._lock:
            if self._failure is not None:
                raise ConnectionClosedError(f"client is closed: {self._failure}", self._failure)
            self._pending[request_id] = call
            if deadline is not None:
                self._schedule_locked(deadline, call, lambda: self._expire(call))
            if self._connection is not None:
                self._send_locked(call, self._connection)
        return future

    def _send_locked(self, call: _Call, connection: Connection) -> None:
        call.state, call.connection = "sent", connection
        connection.send(call.frame)

    # ----- replies -------------------------------------------------------------------------

    def _on_response(self, connection: Connection, response: Response) -> None:
        """Called by the reader thread for every response."""
        body = response.body
        if response.request_id == 0 and isinstance(body, ErrorResponse):
            connection.error = server_error(body.code, body.message, 0)
            return  # the server closes the connection next; _on_lost handles it
        with self._lock:
            call = self._pending.get(response.request_id)
            if call is None:
                return  # a late reply to a call that timed out or was already answered
            settlements = self._answer_locked(call, body)
        _settle(settlements)

    def _answer_locked(self, call: _Call, body: Any) -> List[Settlement]:
        if isinstance(body, ErrorResponse):
            return self._error_locked(call, body)
        if not isinstance(body, call.expects):
            return self._finish_locked(call, False, ProtocolError(f"unexpected reply {type(body).__name__}"))
        if isinstance(body, OutcomeResponse):
            return self._finish_locked(call, True, body.outcome)
        if isinstance(body, OutcomesResponse):
            return self._finish_locked(call, True, body.outcomes)
        return self._finish_locked(call, True, None)

    def _error_locked(self, call: _Call, body: ErrorResponse) -> List[Settlement]:
        error = server_error(body.code, body.message, call.request_id)
        if body.code == ErrorCode.Busy and call.busy_attempts < self.options.busy_retries:
            delay = backoff_delay(
                call.busy_attempts, self.options.busy_backoff_initial, self.options.busy_backoff_max, self._random
            )
            call.busy_attempts += 1
            self.stats.busy_retries += 1
            call.state = "backoff"
            self._schedule_locked(time.monotonic() + delay, call, lambda: self._retry(call))
            return []
        if body.code == ErrorCode.ShuttingDown and self.options.reconnect:
            call.state = "queued"  # not applied: resend once connected to the restarted server
            return []
        if isinstance(error, FATAL_ERRORS):  # e.g. the key was revoked: no reconnecting
            self._failure = error
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()
            self._timers_changed.notify_all()
            return self._fail_all_locked(error)
        return self._finish_locked(call, False, error)

    def _finish_locked(self, call: _Call, ok: bool, value: Any) -> List[Settlement]:
        self._pending.pop(call.request_id, None)
        return [(call.future, ok, value)]

    def _fail_all_locked(self, error: BaseException) -> List[Settlement]:
        settlements = [(call.future, False, error) for call in self._pending.values()]
        self._pending.clear()
        return settlements

    # ----- timers: deadlines and Busy retries ----------------------------------------------

    def _schedule_locked(self, when: float, call: _Call, action: Callable[[], List[Settlement]]) -> None:
        if len(self._timers) > 4 * len(self._pending) + 1024:  # drop timers of settled calls
            self._timers = [t for t in self._timers if self._pending.get(t.call.request_id) is t.call]
            heapq.heapify(self._timers)
        heapq.heappush(self._timers, _Timer(when, next(self._timer_ids), call, action))
        self._timers_changed.notify()

    def _expire(self, call: _Call) -> List[Settlement]:
        if self._pending.get(call.request_id) is not call:
            return []
        self.stats.timeouts += 1
        return self._finish_locked(call, False, RequestTimeoutError(f"no reply to request {call.request_id} in time"))

    def _retry(self, call: _Call) -> List[Settlement]:
        if self._pending.get(call.request_id) is not call or call.state != "backoff":
            return []
        if self._connection is not None:
            self._send_locked(call, self._connection)
        else:
            call.state = "queued"
        return []

    def _timer_loop(self) -> None:
        while True:
            with self._lock:
                while self._failure is None and (not self._timers or self._timers[0].when > time.monotonic()):
                    wait = self._timers[0].when - time.monotonic() if self._timers else None
                    self._timers_changed.wait(wait)
                if self._failure is not None:
                    return
                settlements = heapq.heappop(self._timers).action()
            _settle(settlements)

    # ----- connection loss and reconnection -----------------------------------------------

    def _on_lost(self, connection: Connection, cause: Optional[BaseException]) -> None:
        """Called once by a connection's thread when it ends."""
        error = connection.error or cause
        with self._lock:
            if connection is not self._connection:
                return
            self._connection = None
            settlements = self._fail_untrusted_locked(connection)
            if self._failure is None and not self.options.reconnect:
                self._failure = error if isinstance(error, KassaError) else ConnectionClosedError(cause=error)
            if self._failure is not None:
                settlements += self._fail_all_locked(self._failure)
                self._timers_changed.notify_all()  # the timer thread ends
            elif not self._reconnecting:
                self._reconnecting = True
                threading.Thread(target=self._reconnect_loop, name="kassa-reconnect", daemon=True).start()
        connection.close()
        _settle(settlements)

    def _fail_untrusted_locked(self, connection: Connection) -> List[Settlement]:
        """After the server refused a frame of this connection as malformed or too large,
        resending the same frames would fail again: their calls fail with that error."""
        if not isinstance(connection.error, (MalformedFrameError, FrameTooLargeError)):
            return []
        calls = [c for c in self._pending.values() if c.state == "sent" and c.connection is connection]
        return [s for call in calls for s in self._finish_locked(call, False, connection.error)]

    def _reconnect_loop(self) -> None:
        failures = 0
        while True:
            delay = backoff_delay(
                failures, self.options.reconnect_backoff_initial, self.options.reconnect_backoff_max, self._random
            )
            time.sleep(delay)
            if self.closed:
                return
            try:
                connection = self._new_connection()
            except FATAL_ERRORS as error:
                return self._give_up(error)
            except Exception as error:  # refused, unreachable, timed out, or a bad Welcome
                failures += 1
                if failures >= self.options.reconnect_attempts:
                    return self._give_up(ConnectionClosedError(f"reconnecting failed {failures} times", error))
                continue
            if self._adopt(connection):
                return

    def _adopt(self, connection: Connection) -> bool:
        """Makes `connection` current and resends every unanswered call, in request order.
        False when the connection died already (the caller tries again)."""
        with self._lock:
            usable = self._failure is None and not connection.ended
            if usable:
                self._reconnecting = False
                self._connection = connection
                self.stats.reconnects += 1
                for request_id in sorted(self._pending):
                    call = self._pending[request_id]
                    if call.state != "backoff":
                        self.stats.resent += call.state == "sent"
                        self._send_locked(call, connection)
        if not usable:
            connection.close()
        return usable or self.closed

    def _give_up(self, error: BaseException) -> None:
        with self._lock:
            self._reconnecting = False
        self._shut_down(error)


def _settle(settlements: List[Settlement]) -> None:
    """Completes futures outside the lock (their callbacks may call the client)."""
    for future, ok, value in settlements:
        try:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        except InvalidStateError:
            pass  # cancelled by its caller


def connect(host: str, port: int, api_key: str, options: Optional[ClientOptions] = None, **overrides: Any) -> Client:
    """Connects to a kassa server, performs the Hello handshake (protocol version 1) and
    returns the Client. Keyword overrides set ClientOptions fields. Handshake refusals raise
    the server's error (UnauthenticatedError, UnsupportedVersionError, BusyError...)."""
    unknown = set(overrides) - {option.name for option in dataclasses.fields(ClientOptions)}
    if unknown:
        raise TypeError(f"unknown client options: {', '.join(sorted(unknown))}")
    options = dataclasses.replace(options or ClientOptions(), **overrides)
    client = Client(host, port, api_key, options)
    client._open()
    return client
