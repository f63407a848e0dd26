"""A cap on request bodies, enforced while they stream in (not after they are buffered)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobline.api.errors import error_response
from jobline.errors import JoblineError, PayloadTooLarge

Render = Callable[[JoblineError], Response]


class BodyLimit:
    """Answer 413 to a request whose body is, or turns out to be, larger than ``max_bytes``.

    ``dialects`` maps path prefixes to the error renderer of the dialect served there, so the
    413 comes in the body its clients read; other paths get the native error body.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, dialects: Mapping[str, Render] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.dialects = dict(dialects or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(
            f"the request body is larger than the limit of {self.max_bytes} bytes",
            limit=self.max_bytes,
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            path = str(scope.get("path", ""))
            render = next(
                (r for prefix, r in self.dialects.items() if path.startswith(prefix)),
                error_response,
            )
            await render(too_large)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large
            return message

        await self.app(scope, counted, send)
