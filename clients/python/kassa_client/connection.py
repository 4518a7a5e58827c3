"""One TCP connection: connect, handshake, then a writer thread and a reader thread.

The connection knows nothing about requests: it writes frames it is given, hands every decoded
response to `on_response`, and reports its end once, to `on_lost`.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
from typing import Callable, Optional

from .errors import ConnectTimeoutError, DecodeError, ProtocolError, server_error
from .messages import (
    PROTOCOL_VERSION,
    ErrorResponse,
    FrameBuffer,
    Hello,
    Request,
    Response,
    Welcome,
    decode_response_body,
    encode_request,
)

RECEIVE_BYTES = 256 * 1024
WRITE_BURST_BYTES = 256 * 1024

ResponseHandler = Callable[["Connection", Response], None]
LostHandler = Callable[["Connection", Optional[BaseException]], None]

_generations = itertools.count(1)


def handshake(sock: socket.socket, api_key: str, request_id: int, timeout: float) -> FrameBuffer:
    """Sends Hello and waits for Welcome (within `timeout` seconds). Returns the frame buffer,
    which may already hold bytes that came after the Welcome. Raises the server's error
    (UnauthenticatedError, UnsupportedVersionError, BusyError...), ProtocolError, DecodeError,
    OSError or socket.timeout."""
    deadline = time.monotonic() + timeout
    sock.sendall(encode_request(Request(request_id, Hello(PROTOCOL_VERSION, api_key))))
    frames = FrameBuffer()
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(RECEIVE_BYTES)
        if not data:
            raise ConnectionResetError("the server closed the connection during the handshake")
        bodies = frames.feed(data)
        if bodies:
            break
    response = decode_response_body(bodies[0])
    if isinstance(response.body, ErrorResponse):
        raise server_error(response.body.code, response.body.message, response.request_id)
    if not isinstance(response.body, Welcome) or response.request_id != request_id:
        raise ProtocolError(f"expected Welcome for request {request_id}, got {response}")
    if response.body.protocol_version != PROTOCOL_VERSION:
        raise ProtocolError(f"server speaks protocol version {response.body.protocol_version}")
    if len(bodies) > 1:
        raise ProtocolError("the server sent frames before it was asked anything")
    return frames


class Connection:
    """An open, authenticated connection with its writer and reader threads."""

    def __init__(
        self,
        sock: socket.socket,
        frames: FrameBuffer,
        on_response: ResponseHandler,
        on_lost: LostHandler,
    ) -> None:
        self.generation = next(_generations)
        self.error: Optional[BaseException] = None  # a connection-level server error, if any
        self._sock = sock
        self._frames = frames
        self._on_response = on_response
        self._on_lost = on_lost
        self._outbox: "queue.SimpleQueue[Optional[bytes]]" = queue.SimpleQueue()
        self._ended = threading.Event()
        self._lost_reported = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="kassa-writer", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="kassa-reader", daemon=True)

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        api_key: str,
        hello_request_id: int,
        timeout: float,
        on_response: ResponseHandler,
        on_lost: LostHandler,
        nodelay: bool = True,
    ) -> "Connection":
        """Connects, performs the handshake and starts the threads. Raises ConnectTimeoutError
        past `timeout` seconds, the server's refusal, or an OSError."""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except socket.timeout:
            raise ConnectTimeoutError(f"connecting to {host}:{port} took over {timeout} s") from None
        try:
            if nodelay:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            frames = handshake(sock, api_key, hello_request_id, timeout)
            sock.settimeout(None)
        except socket.timeout:
            sock.close()
            raise ConnectTimeoutError(f"no Welcome from {host}:{port} within {timeout} s") from None
        except BaseException:
            sock.close()
            raise
        connection = cls(sock, frames, on_response, on_lost)
        connection._writer.start()
        connection._reader.start()
        return connection

    def send(self, frame: bytes) -> None:
        """Queues a frame for the writer (never blocks)."""
        self._outbox.put(frame)

    @property
    def ended(self) -> bool:
        """Closed by us, or lost (reported to `on_lost`)."""
        return self._ended.is_set() or self._lost_reported.is_set()

    def close(self) -> None:
        """Closes the socket; both threads stop. Idempotent."""
        if self._ended.is_set():
            return
        self._ended.set()
        self._outbox.put(None)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def join(self, timeout: float) -> None:
        for thread in (self._writer, self._reader):
            if thread is not threading.current_thread() and thread.is_alive():
                thread.join(timeout)

    def _lost(self, cause: Optional[BaseException]) -> None:
        """Reports the end once (not when we closed the connection ourselves)."""
        if self._ended.is_set() or self._lost_reported.is_set():
            return
        self._lost_reported.set()
        self._on_lost(self, cause)

    def _write_loop(self) -> None:
        """Writes whatever is queued, one sendall per burst."""
        while True:
            frame = self._outbox.get()
            if frame is None:
                return
            burst = bytearray(frame)
            while len(burst) < WRITE_BURST_BYTES:
                try:
                    more = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._outbox.put(None)
                    break
                burst += more
            try:
                self._sock.sendall(burst)
            except OSError as error:
                self._lost(error)
                return

    def _read_loop(self) -> None:
        """Reads frames until the connection ends; each decoded response goes to the client."""
        cause: Optional[BaseException] = None
        try:
            for body in self._frames.feed(b""):
                self._on_response(self, decode_response_body(body))
            while not self._ended.is_set():
                data = self._sock.recv(RECEIVE_BYTES)
                if not data:
                    break
                for body in self._frames.feed(data):
                    self._on_response(self, decode_response_body(body))
        except DecodeError as error:
            cause = ProtocolError(f"undecodable frame from the server: {error}")
        except Exception as error:  # OSError, or a bug in a handler: the connection is unusable
            cause = error
        self._lost(cause)
