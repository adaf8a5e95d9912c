"""A small async client for services that talk to routeyard over Kafka.

    async with RouteyardClient("127.0.0.1:9092") as client:
        response = await client.complete(request)            # LLMResponse
        async for part in client.stream(request):            # ChunkEvent..., LLMResponse
            ...

It publishes the request to ``llm.requests`` and waits for that request_id's outcome on
``llm.responses`` / ``llm.dlq`` (and its chunks on ``llm.chunks``). A dead letter raises
:class:`RequestFailed` carrying it; no outcome by the deadline raises
:class:`ReplyTimeout` naming the request_id (the outcome may still land on the topics
later). ``routeyard serve`` is built on this client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from types import TracebackType

from aiokafka import AIOKafkaProducer

from routeyard.replies import Reply, ReplyBook
from schemas.chunks import ChunkEvent
from schemas.config import TopicsConfig
from schemas.events import DeadLetter, LLMRequest
from schemas.responses import LLMResponse


class RequestFailed(Exception):
    """The request ended in a dead letter; ``letter`` says why."""

    def __init__(self, letter: DeadLetter) -> None:
        super().__init__(f"{letter.request_id}: {letter.reason}: {letter.detail}")
        self.letter = letter


class ReplyTimeout(TimeoutError):
    """No outcome within the wait; the request may still be answered on the topics."""

    def __init__(self, request_id: str, timeout_s: float) -> None:
        super().__init__(f"no outcome for {request_id} within {timeout_s:g}s")
        self.request_id = request_id


class StreamBroken(Exception):
    """Chunks already given out cannot be continued: another call answered the request
    (its first call's worker died mid-stream). ``response`` is that other call's answer."""

    def __init__(self, request_id: str, response: LLMResponse | None) -> None:
        super().__init__(f"{request_id}: the stream was broken off and answered by another call")
        self.request_id = request_id
        self.response = response


class RouteyardClient:
    def __init__(
        self,
        bootstrap: str,
        topics: TopicsConfig | None = None,
        *,
        max_pending: int = 10_000,
        max_request_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.topics = topics or TopicsConfig()
        self.book = ReplyBook(bootstrap, self.topics, max_pending)
        # Twice the request limit, as the request topic takes (README "Request size").
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=2, max_request_size=2 * max_request_bytes
        )

    async def start(self) -> None:
        await self._producer.start()
        try:
            await self.book.start()
        except BaseException:
            await self._producer.stop()
            raise

    async def stop(self) -> None:
        await self.book.stop()
        await self._producer.stop()

    async def __aenter__(self) -> RouteyardClient:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _publish(self, request: LLMRequest) -> None:
        await self._producer.send_and_wait(
            self.topics.requests, request.to_bytes(), key=request.request_id.encode()
        )

    async def complete(self, request: LLMRequest, timeout_s: float = 120.0) -> LLMResponse:
        """The request's response; RequestFailed for a dead letter, ReplyTimeout."""
        async for part in self.stream(request, timeout_s):
            if isinstance(part, LLMResponse):
                return part
        raise AssertionError("stream() ends with a response or raises")  # pragma: no cover

    async def stream(
        self, request: LLMRequest, timeout_s: float = 120.0
    ) -> AsyncGenerator[ChunkEvent | LLMResponse, None]:
        """The request's chunks in order (if it streams), then its response, last.
        ``aclose()`` it to stop waiting early."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        with self.book.expect(request.request_id) as replies:
            await self._publish(request)
            relay = _Relay(request.request_id)
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        reply = await anext(replies)
                except TimeoutError as exc:
                    raise ReplyTimeout(request.request_id, timeout_s) from exc
                for part in relay.take(reply):
                    yield part
                    if isinstance(part, LLMResponse):
                        return


class _Relay:
    """Puts one request's replies in order: one call's chunks by seq, then its response.

    The response and the chunks travel on different topics, so the response can be read
    first; it is held until every chunk it counts has been given out.
    """

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.call_id: str | None = None
        self.given = 0
        self.early: dict[int, ChunkEvent] = {}
        self.response: LLMResponse | None = None

    def take(self, reply: Reply) -> list[ChunkEvent | LLMResponse]:
        if isinstance(reply, DeadLetter):
            raise RequestFailed(reply)
        if isinstance(reply, LLMResponse):
            self.response = reply
        elif self.call_id is None or reply.call_id == self.call_id:
            self.call_id = reply.call_id
            self.early[reply.seq] = reply
        # A chunk of another call after this one began: that call starts over from seq
        # 0, which cannot follow what was given out; its response will say which won.
        out: list[ChunkEvent | LLMResponse] = []
        while self.given in self.early:
            out.append(self.early.pop(self.given))
            self.given += 1
        if self.response is not None:
            streamed = self.response.streamed
            if streamed is None:
                out.append(self.response)  # answered whole: nothing to wait for
            elif self.call_id not in (None, streamed.call_id):
                raise StreamBroken(self.request_id, self.response)
            elif self.given >= streamed.chunks:
                out.append(self.response)
        return out
