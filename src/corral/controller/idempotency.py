"""A request sent twice acts once: replies kept by the client's Idempotency-Key.

A client that lost the reply to a submit cannot tell whether the controller committed it; when
it sends the same request again with the same key, it gets the first reply (the same job id)
instead of a second job. Replies are kept in memory for a while: the transport retries within
seconds, and a restarted controller has lost the connection the reply was lost on anyway.
Keys are scoped to whoever sent them, so one caller cannot read another's reply.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

KEEP_SECONDS = 600.0
KEEP_REPLIES = 10_000

Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


def _who(scope: Scope) -> tuple[Any, ...]:
    state = scope.get("state") or {}
    headers = dict(scope.get("headers") or [])
    return (state.get("peer_uid"), headers.get(b"x-corral-job-token"),
            headers.get(b"authorization"))


class IdempotentReplies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.replies: OrderedDict[tuple[Any, ...], tuple[float, asyncio.Future[Reply]]] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        key = next((v for k, v in scope["headers"] if k == b"idempotency-key"), None)
        if key is None:
            await self.app(scope, receive, send)
            return
        self._forget_old()
        ident = (*_who(scope), scope["method"], scope["path"], key)
        kept = self.replies.get(ident)
        if kept is not None:
            try:
                reply = await asyncio.shield(kept[1])
            except asyncio.CancelledError:
                if not kept[1].cancelled():
                    raise  # this request itself was cancelled
            else:
                await self._replay(reply, send)
                return
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.replies[ident] = (time.monotonic(), future)
        status, headers, body = 500, [], bytearray()

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            del self.replies[ident]  # nothing was answered: a repeat may try again
            future.cancel()
            raise
        if status >= 500:
            del self.replies[ident]  # a failure (database down): a repeat may try again
        future.set_result((status, headers, bytes(body)))

    @staticmethod
    async def _replay(reply: Reply, send: Send) -> None:
        status, headers, body = reply
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _forget_old(self) -> None:
        horizon = time.monotonic() - KEEP_SECONDS
        while self.replies:
            ident, (since, future) = next(iter(self.replies.items()))
            if len(self.replies) <= KEEP_REPLIES and since > horizon:
                break
            if not future.done():
                break
            del self.replies[ident]
