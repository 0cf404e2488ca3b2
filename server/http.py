"""Serving the MCP server over streamable HTTP with uvicorn, optionally behind a bearer token."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp

from eibench.server.auth import BearerTokenMiddleware

MCP_PATH = "/mcp"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_app(server: MCPServer[Any], *, host: str = "127.0.0.1", token: str | None = None,
             json_response: bool = True) -> ASGIApp:
    """The ASGI app serving ``server`` at ``/mcp``, behind ``token`` when one is given.

    On a loopback host the MCP transport also refuses requests whose Host or Origin header is
    not local (DNS-rebinding protection).
    """
    app: ASGIApp = server.streamable_http_app(host=host, json_response=json_response,
                                              streamable_http_path=MCP_PATH)
    return BearerTokenMiddleware(app, token) if token else app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0 picks a free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port,
                                                         type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def endpoint_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{MCP_PATH}"


async def serve_http(app: ASGIApp, sock: socket.socket, *,
                     on_ready: Callable[[], None] | None = None) -> None:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM; ``on_ready`` runs once it accepts."""
    import uvicorn

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_ready is not None:
                on_ready()

    # Agents pause between turns; keeping idle connections longer than clients' pools do (httpx:
    # 5 s) means the client, not the server, drops them, so a POST never lands on a closing socket.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_keep_alive=75, timeout_graceful_shutdown=5)
    await _Server(config).serve(sockets=[sock])
