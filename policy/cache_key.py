"""Which requests may be answered from the cache, and the keys they are cached under.

See docs/design/cache.md. Three keys, all SHA-256 hex over canonical JSON (orjson, sorted
keys, so dict order never splits a key):

- **scope**: everything that changes the answer except the messages: the route and the
  models it may call (:func:`target_of`), generation parameters, tools, tool choice,
  response format, the metadata that changes what the pipeline accepts as an answer, and
  the tenant unless the route shares its cache;
- **exact**: the scope plus the normalized messages (text whitespace kept: it changes
  answers);
- **partition**: the exact key on exact routes (spreads evenly), the scope on semantic
  ones (a near neighbour must sit in the same partition's index).

On a semantic route the compared **prompt** is the last message, when it is the user's
text; every message before it (system prompt, earlier turns) joins the scope, so only the
final question may be paraphrased. A request ending otherwise is cached exactly.

Every field of :class:`LLMRequest` is either keyed or listed in :data:`IGNORED_FIELDS`
with the reason; a test fails when a new field is neither, so adding one forces the
choice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from policy.quality import ACCEPT_TRUNCATION
from schemas.cache import CacheConfig, CacheTicket
from schemas.chat import ChatMessage, TextPart
from schemas.config import GatewayConfig
from schemas.events import LLMRequest

# Bumped when what goes into a key changes meaning: old entries then simply stop matching.
KEY_VERSION: Final = 1

CACHE_METADATA_KEY: Final = "cache"
"""``metadata.cache``: ``"on"`` opts in past the deterministic rule, ``"off"`` opts out."""

PINNED_PREFIX: Final = "model:"  # the route name triage gives a request that pins a model

KEYED_FIELDS: Final = frozenset(
    {"messages", "params", "tools", "tool_choice", "response_format", "metadata"}
)
IGNORED_FIELDS: Final[dict[str, str]] = {
    "schema_version": "the wire version; KEY_VERSION covers a change of meaning",
    "request_id": "identical requests from different callers must share an answer",
    "tenant": "in the scope through tenant_scope (absent when the route shares)",
    "task_type": "only picks the route, which the target names",
    "route": "the target names the route actually chosen",
    "model": "the target names the pinned model",
    "stream": "same answer either way; cacheability decides whether streams are cached",
    "created_at": "when, not what",
    "deadline_s": "when, not what",
    "deadline_at": "when, not what",
}
# Only these metadata keys enter the key: the rest is free-form caller data, which the
# providers never see. Accepting a truncated answer changes which answer comes back.
ANSWER_METADATA: Final = (ACCEPT_TRUNCATION,)

NotCacheableReason = Literal[
    "not_configured",
    "invalid_opt",
    "opted_out",
    "streamed",
    "images",
    "tool_results",
    "nondeterministic",
]


@dataclass(frozen=True, slots=True)
class Cacheable:
    opted_in: bool = False
    """Cached only because the request asked (``metadata.cache: "on"``)."""


@dataclass(frozen=True, slots=True)
class NotCacheable:
    reason: NotCacheableReason
    detail: str


@dataclass(frozen=True, slots=True)
class CacheKeys:
    scope: str
    exact: str
    partition: str
    prompt: str = ""
    """Semantic routes: the text compared and embedded ('' : cached exactly)."""


def cacheability(request: LLMRequest, cache: CacheConfig | None) -> Cacheable | NotCacheable:
    """Whether ``request`` may be answered from (and stored in) its route's ``cache``.

    The opt-in lifts only the deterministic rule: images, tool results and streams stay
    with the route's settings, since the caller cannot know what the route allows.
    """
    if cache is None:
        return NotCacheable("not_configured", "the route has no cache")
    opt = request.metadata.get(CACHE_METADATA_KEY)
    if opt is not None and opt not in ("on", "off"):
        return NotCacheable(
            "invalid_opt", f"metadata.{CACHE_METADATA_KEY}: {opt!r} is not 'on' or 'off'"
        )
    if opt == "off":
        return NotCacheable("opted_out", f"metadata.{CACHE_METADATA_KEY} is 'off'")
    if request.stream:
        # A hit would have to be replayed as chunks; not built, so streams always go out.
        return NotCacheable("streamed", "streamed requests are not cached")
    if not cache.allow_images and any(m.images for m in request.messages):
        return NotCacheable("images", "the request has images and the route's allow_images is off")
    if not cache.allow_tool_results and any(m.role == "tool" for m in request.messages):
        return NotCacheable(
            "tool_results",
            "the request carries tool results and the route's allow_tool_results is off",
        )
    if opt == "on":
        return Cacheable(opted_in=not _deterministic(request, cache))
    if not _deterministic(request, cache):
        t = request.params.temperature
        shown = "unset" if t is None else f"{t:g}"
        return NotCacheable(
            "nondeterministic",
            f"temperature {shown}: the route caches temperature 0 only"
            f" (metadata.{CACHE_METADATA_KEY}: 'on' opts in)",
        )
    return Cacheable()


def _deterministic(request: LLMRequest, cache: CacheConfig) -> bool:
    if not cache.deterministic_only:
        return True
    t = request.params.temperature
    return t == 0 or (t is None and cache.unset_temperature_deterministic)


def target_of(config: GatewayConfig, route: str) -> str:
    """The route as a key sees it: its name and every model it may call, each with its
    provider and upstream name, so a config change of who answers starts a new key.

    ``route`` is the plan's route: a config route or ``model:<name>`` for a pinned model.
    Raises ``KeyError`` for a name the config does not have (triage resolved it before).
    """
    if route.startswith(PINNED_PREFIX):
        models = [route.removeprefix(PINNED_PREFIX)]
    else:
        found = config.route(route)
        if found is None:
            raise KeyError(f"route {route!r} is not in the config")
        models = list(dict.fromkeys([found.primary, *found.fallbacks]))
    described = []
    for name in models:
        model = config.models[name]
        described.append(f"{name}:{model.provider}/{model.upstream}")
    return f"{route}={','.join(described)}"


def tenant_scope(request: LLMRequest, cache: CacheConfig) -> str | None:
    """The tenant a key is confined to; None when the route shares across tenants."""
    return None if cache.share_across_tenants else request.tenant


def scope_key(request: LLMRequest, target: str, tenant: str | None) -> str:
    metadata = {k: request.metadata[k] for k in ANSWER_METADATA if k in request.metadata}
    return _digest(
        {
            "v": KEY_VERSION,
            "target": target,
            "tenant": tenant,
            "params": request.params.model_dump(mode="json"),
            "tools": [t.model_dump(mode="json") for t in request.tools],
            "tool_choice": request.tool_choice,
            "response_format": (
                None
                if request.response_format is None
                else request.response_format.model_dump(mode="json")
            ),
            "metadata": metadata,
        }
    )


def exact_key(request: LLMRequest, scope: str) -> str:
    return _digest({"scope": scope, "messages": [_message(m) for m in request.messages]})


def partition_key(cache: CacheConfig, scope: str, exact: str) -> str:
    return scope if cache.mode == "semantic" else exact


def semantic_prompt(request: LLMRequest) -> str | None:
    """The last message's text when it is the user's and text only; else None."""
    last = request.messages[-1] if request.messages else None
    if last is None or last.role != "user":
        return None
    content = last.content
    if isinstance(content, str):
        return content
    if content and all(isinstance(part, TextPart) for part in content):
        return "\n".join(part.text for part in content if isinstance(part, TextPart))
    return None


def cache_keys(request: LLMRequest, cache: CacheConfig, target: str) -> CacheKeys:
    scope = scope_key(request, target, tenant_scope(request, cache))
    prompt = semantic_prompt(request) if cache.mode == "semantic" else None
    if prompt is None:
        exact = exact_key(request, scope)
        return CacheKeys(scope=scope, exact=exact, partition=exact)
    # The turns before the prompt must match exactly: they join the scope.
    before = [_message(m) for m in request.messages[:-1]]
    scope = _digest({"scope": scope, "before": before})
    exact = exact_key(request, scope)
    return CacheKeys(scope=scope, exact=exact, partition=scope, prompt=prompt)


def _message(message: ChatMessage) -> dict[str, Any]:
    data = message.model_dump(mode="json")
    content = message.content
    # One text part and the plain string are the same prompt: the model reads one text
    # block either way, whatever the wire shape.
    if isinstance(content, list) and len(content) == 1 and isinstance(content[0], TextPart):
        data["content"] = content[0].text
    return data


def _digest(value: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def ticket_for(config: GatewayConfig, request: LLMRequest, route: str) -> CacheTicket | None:
    """The cache ticket of a request triage routed to ``route``; None when not cached."""
    found = config.route(route)
    cache = found.cache if found is not None else None
    if cache is None or not isinstance(cacheability(request, cache), Cacheable):
        return None
    keys = cache_keys(request, cache, target_of(config, route))
    return CacheTicket(
        route=route,
        key=keys.exact,
        partition_key=keys.partition,
        scope=keys.scope,
        mode="semantic" if keys.prompt else "exact",
        prompt=keys.prompt,
    )
