"""A scripted stand-in for a kassa server on 127.0.0.1, for deterministic client tests.

It accepts connections, answers the Hello with Welcome (or `hello_error`), then hands every
request to `handler(connection_number, request)`, which returns the responses to send now (a
list; a CLOSE in it drops the connection there).
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional, Union

from kassa_client.messages import (
    ErrorCode,
    ErrorResponse,
    FrameBuffer,
    Request,
    Response,
    Welcome,
    decode_request_body,
    encode_response,
)

CLOSE = "close"
Action = List[Union[Response, str]]


def error(request_id: int, code: ErrorCode, message: str = "scripted") -> Response:
    return Response(request_id, ErrorResponse(code, message))


class FakeServer:
    """Serves until `stop()`; `requests` logs (connection number, Request) as they arrive."""

    def __init__(self, handler: Callable[[int, Request], Action], hello_error: Optional[ErrorCode] = None) -> None:
        self.handler = handler
        self.hello_error = hello_error
        self.requests: List[tuple] = []
        self.raw_frames: List[bytes] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def stop(self) -> None:
        """Stops listening and drops every connection."""
        self._listener.close()
        self.stop_connections()

    def stop_connections(self) -> None:
        """Drops every open connection (the server keeps listening)."""
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
                self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        frames = FrameBuffer()
        hello_done = False
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                for body in frames.feed(data):
                    request = decode_request_body(body)
                    if not hello_done:
                        hello_done = True
                        if not self._answer_hello(sock, request):
                            return
                        continue
                    with self._lock:
                        self.requests.append((number, request))
                        self.raw_frames.append(body)
                    for response in self.handler(number, request):
                        if response == CLOSE:
                            _close(sock)
                            return
                        sock.sendall(encode_response(response))
        except OSError:
            return

    def _answer_hello(self, sock: socket.socket, hello: Request) -> bool:
        if self.hello_error is not None:
            sock.sendall(encode_response(error(hello.request_id, self.hello_error)))
            _close(sock)
            return False
        sock.sendall(encode_response(Response(hello.request_id, Welcome(1, 1_048_576))))
        return True


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
