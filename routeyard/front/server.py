"""``routeyard serve``: the OpenAI Chat Completions API in front of the Kafka pipeline.

aiohttp, like the analytics server: already a dependency, async, and its StreamResponse
writes server-sent events as they come. Every request goes through the pipeline as an
event (triage, admission, dispatch, retry, dead letters, usage); this server publishes
it with :class:`routeyard.client.RouteyardClient` and turns the outcome back into the
OpenAI wire (:mod:`routeyard.front.openai_request`, ``openai_response``, ``openai_errors``).

A streamed request answers with HTTP 200 and SSE only once its first chunk has come; a
dead letter before that is a plain HTTP error. After it, a failure ends the stream with
an error frame and no ``[DONE]`` (docs/design/streaming.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from uuid import uuid4

import orjson
from aiohttp import web

from routeyard.client import ReplyTimeout, RequestFailed, RouteyardClient, StreamBroken
from routeyard.front.openai_errors import OpenAIError, error_for_dead_letter, error_frame
from routeyard.front.openai_request import ParsedChat, to_llm_request
from routeyard.front.openai_response import (
    chunk_body,
    completion_body,
    final_chunks,
    models_body,
)
from routeyard.front.readiness import Readiness
from routeyard.replies import TooManyPending
from schemas.chunks import ChunkEvent
from schemas.config import GatewayConfig
from schemas.serve import ApiKeyConfig

log = logging.getLogger(__name__)

_DONE = b"data: [DONE]\n\n"


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _error(err: OpenAIError, request_id: str | None = None) -> web.Response:
    headers = dict(err.headers)
    if request_id is not None:
        headers["x-request-id"] = request_id
    return _json(err.body(), err.status, headers)


def _sse(body: object) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"


class FrontDoor:
    def __init__(self, config: GatewayConfig, client: RouteyardClient, ready: Readiness) -> None:
        self.config = config
        self.client = client
        self.ready = ready
        self._keys = {key.sha256: key for key in config.serve.api_keys}
        self._models = set(config.models)
        self._routes = {route.name for route in config.routes}

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=2 * self.config.limits.max_request_bytes)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    def _caller(self, request: web.Request) -> ApiKeyConfig:
        """The key's config entry; the key itself is only hashed, never kept or logged."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise OpenAIError(
                401,
                "no API key: send Authorization: Bearer <key>",
                "invalid_request_error",
                None,
                "invalid_api_key",
            )
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        for known, entry in self._keys.items():
            if hmac.compare_digest(known, digest):
                return entry
        raise OpenAIError(
            401, "the API key is not known here", "invalid_request_error", None, "invalid_api_key"
        )

    async def _list_models(self, request: web.Request) -> web.Response:
        try:
            self._caller(request)
        except OpenAIError as err:
            return _error(err)
        return _json(models_body(self.config))

    async def _healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        problems = await self.ready.problems()
        if problems:
            return _json({"status": "not ready", "problems": problems}, 503)
        return _json({"status": "ready"})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        request_id = f"ry-{uuid4().hex}"
        try:
            caller = self._caller(request)
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError as exc:
                raise OpenAIError(
                    400,
                    f"the body is not JSON: {exc}",
                    "invalid_request_error",
                    None,
                    "invalid_json",
                ) from exc
            parsed = to_llm_request(
                body,
                request_id=request_id,
                tenant=caller.tenant,
                known_models=self._models,
                known_routes=self._routes,
            )
        except OpenAIError as err:
            return _error(err, request_id)
        if parsed.stream:
            return await self._stream(request, parsed)
        return await self._whole(parsed)

    async def _whole(self, parsed: ParsedChat) -> web.Response:
        request_id = parsed.request.request_id
        try:
            response = await self.client.complete(
                parsed.request, self.config.serve.request_timeout_s
            )
        except RequestFailed as failed:
            return _error(error_for_dead_letter(failed.letter), request_id)
        except (ReplyTimeout, TooManyPending, StreamBroken) as exc:
            return _error(_waiting_error(exc, request_id), request_id)
        return _json(
            completion_body(response, parsed.model_label), headers={"x-request-id": request_id}
        )

    async def _stream(self, request: web.Request, parsed: ParsedChat) -> web.StreamResponse:
        request_id = parsed.request.request_id
        sse: web.StreamResponse | None = None
        created = int(time.time())
        try:
            async for part in self.client.stream(
                parsed.request, self.config.serve.request_timeout_s
            ):
                if sse is None:
                    sse = await _open_sse(request, request_id)
                if isinstance(part, ChunkEvent):
                    body = chunk_body(
                        part, model_label=parsed.model_label, created=created, first=part.seq == 0
                    )
                    await sse.write(_sse(body))
                    continue
                for body in final_chunks(
                    part,
                    model_label=parsed.model_label,
                    created=created,
                    include_usage=parsed.include_usage,
                    whole=part.streamed is None,
                ):
                    await sse.write(_sse(body))
                await sse.write(_DONE)
        except RequestFailed as failed:
            if sse is None:
                return _error(error_for_dead_letter(failed.letter), request_id)
            await sse.write(error_frame(error_for_dead_letter(failed.letter)))
        except (ReplyTimeout, TooManyPending, StreamBroken) as exc:
            err = _waiting_error(exc, request_id)
            if sse is None:
                return _error(err, request_id)
            await sse.write(error_frame(err))
        except (ConnectionResetError, asyncio.CancelledError):
            # The caller went away; the request still completes on the topics.
            log.info("caller of %s went away mid-stream", request_id)
            raise
        assert sse is not None
        await sse.write_eof()
        return sse


async def _open_sse(request: web.Request, request_id: str) -> web.StreamResponse:
    sse = web.StreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            "x-request-id": request_id,
        },
    )
    await sse.prepare(request)
    return sse


def _waiting_error(exc: Exception, request_id: str) -> OpenAIError:
    """The errors of waiting itself, not of the request's outcome."""
    if isinstance(exc, TooManyPending):
        return OpenAIError(
            503,
            f"{exc}; retry later",
            "server_error",
            None,
            "overloaded",
            headers={"retry-after": "1"},
        )
    if isinstance(exc, StreamBroken):
        return OpenAIError(
            502, f"{exc} (request_id {request_id})", "server_error", None, "stream_interrupted"
        )
    return OpenAIError(
        504,
        f"no outcome for request_id {request_id} in time; it may still be answered on the"
        " response topic under that id",
        "timeout",
        None,
        "deadline_exceeded",
    )
