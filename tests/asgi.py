"""A synchronous httpx transport that runs an ASGI app in-process (no sockets).

httpx ships only an async ASGI transport; the SDK is synchronous, so this runs that transport
on an event loop in a helper thread (an anyio blocking portal) and hands back the response.
"""

from __future__ import annotations

from contextlib import ExitStack

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp


class ASGITransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._stack = ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        async_request = httpx.Request(
            request.method, request.url, headers=request.headers, content=body
        )

        async def call() -> tuple[httpx.Response, bytes]:
            response = await self._inner.handle_async_request(async_request)
            return response, await response.aread()

        response, content = self._portal.call(call)
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    def close(self) -> None:
        self._stack.close()
