"""A programmable HTTP server on 127.0.0.1 for backend tests and benchmarks.

The server runs in a background thread (one thread per connection) and answers every request
from a *script*: a function of the ``FakeRequest`` that returns the answer text, an ``Answer``,
a ``Fault``, or a ``dict`` sent as the JSON body as it is. Subclasses turn answers into one wire
format (OpenAI chat completions, Anthropic messages).

Faults can be staged for the next requests (``fail_next``), drawn at random at a fixed rate
(``fault_rate`` with ``faults`` and a ``seed``), or returned by the script. Every request is
recorded with its arrival time, and the server tracks how many requests were in flight at once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["Answer", "FakeRequest", "FakeServer", "Fault", "Script", "words"]


def words(text: str) -> int:
    """The fake servers' token count: whitespace-separated words."""
    return len(text.split())


@dataclass(frozen=True)
class FakeRequest:
    """One request the server received."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float

    @property
    def last_user_text(self) -> str:
        """The content of the last user message, if the body has chat messages."""
        messages = (self.body or {}).get("messages") or []
        for m in reversed(messages):
            if m.get("role") == "user":
                content = m.get("content")
                if isinstance(content, list):
                    return "".join(b.get("text", "") for b in content if isinstance(b, dict))
                return str(content)
        return ""


@dataclass(frozen=True)
class Answer:
    """A successful answer; the wire format decides how it is sent."""

    text: str = ""
    reasoning: str | None = None
    logprobs: list[float] | None = None


@dataclass(frozen=True)
class Fault:
    """A failure to inject instead of (or before) an answer.

    kinds: ``status`` (an HTTP error, with Retry-After when ``retry_after`` is set), ``delay``
    (wait ``delay`` seconds, then answer normally: longer than the client's timeout it is a
    timeout), ``malformed`` (HTTP 200 with a truncated JSON body). ``body`` replaces the
    wire format's default error body.
    """

    kind: Literal["status", "delay", "malformed"]
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    body: dict[str, Any] | None = None

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0) -> Fault:
        return cls("status", status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("status", status=status)

    @classmethod
    def timeout(cls, delay: float = 5.0) -> Fault:
        return cls("delay", delay=delay)

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed")


Script = Callable[[FakeRequest], "str | Answer | Fault | dict[str, Any]"]


def echo(request: FakeRequest) -> str:
    """The default script: repeat the last user message."""
    return f"echo: {request.last_user_text}"


@dataclass
class _Stats:
    requests: list[FakeRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    faults: int = 0


class FakeServer:
    """Base of the wire-format fakes; use as a context manager or call start()/stop().

    Args:
        script: the answer for each request (default: echo the last user message).
        latency: seconds added before every answer.
        fault_rate: probability in [0, 1] that a request gets a random fault from ``faults``.
        faults: the faults drawn at random (default: 500 and 429 with Retry-After 0).
        seed: seed of the random draws.
    """

    #: subclasses: the base path clients use, e.g. "/v1"
    base_path = ""

    def __init__(self, script: Script | None = None, *, latency: float = 0.0,
                 fault_rate: float = 0.0, faults: Sequence[Fault] | None = None,
                 seed: int = 0) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1], got {fault_rate}")
        self.script: Script = script or echo
        self.latency = latency
        self.fault_rate = fault_rate
        self.random_faults = list(faults or [Fault.server_error(), Fault.rate_limit(0.0)])
        self._rng = random.Random(seed)
        self._staged: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeServer:
        httpd = _HTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,),
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL a client is given."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    # -- script control and stats -----------------------------------------------------------
    def fail_next(self, *faults: Fault) -> None:
        """Stage faults for the next requests, one per request, in order."""
        with self._lock:
            self._staged.extend(faults)

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._stats.requests)

    @property
    def max_in_flight(self) -> int:
        return self._stats.max_in_flight

    @property
    def faults_injected(self) -> int:
        return self._stats.faults

    # -- wire format (subclasses) -----------------------------------------------------------
    def route(self, method: str, path: str) -> bool:
        """Whether this server answers ``method path`` with the script."""
        raise NotImplementedError

    def render(self, request: FakeRequest, answer: Answer) -> dict[str, Any]:
        """The JSON body of a successful answer."""
        raise NotImplementedError

    def error_body(self, status: int) -> dict[str, Any]:
        return {"error": {"type": "fake_error", "message": f"injected HTTP {status}"}}

    def check(self, request: FakeRequest) -> tuple[int, dict[str, Any]] | None:
        """A protocol-level rejection (status, body) before the script runs, or ``None``."""
        return None

    # -- request handling -------------------------------------------------------------------
    def _register(self, method: str, path: str, headers: dict[str, str], body: Any) -> FakeRequest:
        with self._lock:
            request = FakeRequest(len(self._stats.requests), method, path, headers, body,
                                  time.monotonic())
            self._stats.requests.append(request)
            self._stats.in_flight += 1
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._stats.in_flight)
            return request

    def _done(self) -> None:
        with self._lock:
            self._stats.in_flight -= 1

    def _pick_fault(self) -> Fault | None:
        with self._lock:
            if self._staged:
                self._stats.faults += 1
                return self._staged.popleft()
            if self.fault_rate and self._rng.random() < self.fault_rate:
                self._stats.faults += 1
                return self._rng.choice(self.random_faults)
        return None

    def respond(self, request: FakeRequest) -> tuple[int, dict[str, str], bytes]:
        """The full response to one request: (status, headers, body)."""
        rejection = self.check(request)
        if rejection is not None:
            return _json(*rejection)
        outcome: Any = self._pick_fault()
        if outcome is None:
            outcome = self.script(request)
        if self.latency:
            self._stopping.wait(self.latency)
        if isinstance(outcome, Fault):
            if outcome.kind == "delay":
                self._stopping.wait(outcome.delay)
                outcome = self.script(request)
            elif outcome.kind == "malformed":
                return 200, {"content-type": "application/json"}, b'{"id": "broken", "choi'
            else:
                status, headers, body = _json(outcome.status,
                                              outcome.body or self.error_body(outcome.status))
                if outcome.retry_after is not None:
                    headers["retry-after"] = f"{outcome.retry_after:g}"
                return status, headers, body
        if isinstance(outcome, Fault):
            raise TypeError("a script must not answer a delayed request with another fault")
        if isinstance(outcome, dict):
            return _json(200, outcome)
        answer = outcome if isinstance(outcome, Answer) else Answer(text=str(outcome))
        return _json(200, self.render(request, answer))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 refuses connections under a burst of parallel calls.
    request_queue_size = 256


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(body).encode("utf-8")


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = None
            path = self.path.split("?", 1)[0]
            if not server.route(self.command, path):
                self._send(*_json(404, {"error": {"message": f"no route {self.command} {path}"}}))
                return
            request = server._register(self.command, path,
                                       {k.lower(): v for k, v in self.headers.items()}, body)
            try:
                self._send(*server.respond(request))
            finally:
                server._done()

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = _handle
        do_POST = _handle

    return Handler
