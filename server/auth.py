"""A static bearer token in front of the HTTP transport.

Pure ASGI, so it guards every HTTP request (the MCP endpoint and anything else mounted) before
the MCP layer sees it. The token is compared in constant time; refusals are 401 with a
``WWW-Authenticate: Bearer`` header and a JSON body saying what was wrong, never the token.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_ENV = "EIBENCH_TOKEN"


class BearerTokenMiddleware:
    """Refuse HTTP requests without ``Authorization: Bearer <token>``.

    Args:
        app: the ASGI app to guard.
        token: the shared secret; must not be empty.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token or not token.strip():
            raise ValueError("the bearer token must not be empty")
        self.app = app
        self._token = token.strip().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._check(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized", "error_description": problem}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b'Bearer realm="eibench"')]})
        await send({"type": "http.response.body", "body": body})

    def _check(self, scope: Scope) -> str | None:
        values = [v for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
        if not values:
            return "this server needs an 'Authorization: Bearer <token>' header"
        scheme, _, credential = values[0].strip().partition(b" ")
        if scheme.lower() != b"bearer" or not credential.strip():
            return "the Authorization header must read 'Bearer <token>'"
        if not hmac.compare_digest(credential.strip(), self._token):
            return "the bearer token is not the one this server was started with"
        return None
