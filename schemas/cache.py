"""The per-route ``cache:`` section and the records of the cache state topic.

See docs/design/cache.md. A route with a ``cache`` section may answer a request from an
earlier answer to the same request (``exact``) or to a request whose prompt embeds close
to it (``semantic``); which requests may be cached at all is decided by
:func:`policy.cache_key.cacheability` from the settings here.

``llm.cache-state`` -> :class:`CacheRecord` (compacted, keyed by the exact or scope key:
one key's entry and in-flight record; a tombstone when it has neither)
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.base import SCHEMA_VERSION, Event, RequestId, utcnow

CacheMode = Literal["exact", "semantic"]

SEMANTIC_THRESHOLD: Final = 0.55
"""Default cosine similarity at or above which a verified semantic candidate is a hit.

Measured by benchmarks/semantic_eval.py on benchmarks/semantic_pairs.py (paraphrases that
should hit, near misses with the same words and another meaning that must not), with the
router's encoder; kept equal to policy.semantic_match.DEFAULT_THRESHOLD by a test.
"""

CacheHitKind = Literal["exact", "semantic", "coalesced"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CacheConfig(_Config):
    """A route's cache. Bounds are for the whole route: each of the cache topic's N
    partitions holds at most ``ceil(max / N)`` of them (policy.cache_book.partition_limits).

    **Deterministic requests.** With ``deterministic_only`` (the default) a request is
    cached only if its answer does not depend on sampling: ``params.temperature`` is 0, or
    it is unset and the route sets ``unset_temperature_deterministic`` (its models are
    configured upstream to sample greedily when no temperature is sent; most providers'
    default is 1, so an unset temperature does not count as 0 otherwise). ``top_p`` and
    ``stop`` do not matter for this: they are part of the key. A request carrying
    ``metadata.cache: "on"`` opts in past this rule (it accepts a stored sample as its
    answer); ``"off"`` opts out of the cache altogether. Without ``deterministic_only``
    every request the other rules allow is cached, whatever its temperature.
    """

    mode: CacheMode = "exact"
    ttl_s: float = Field(
        default=3600.0, gt=0, le=30 * 86400, description="an entry is served this long"
    )
    max_entries: int = Field(default=100_000, ge=1, description="entries of this route")
    max_bytes: int = Field(
        default=256 * 2**20,
        ge=2**16,
        description="bytes of this route's entries: response size plus per-entry overhead",
    )
    share_across_tenants: bool = Field(
        default=False, description="one tenant's answer may serve another's identical request"
    )
    allow_images: bool = Field(
        default=False, description="cache requests with images (a URL image keys by its URL)"
    )
    allow_tool_results: bool = Field(
        default=False, description="cache requests carrying tool results (role tool messages)"
    )
    deterministic_only: bool = Field(
        default=True, description="cache only temperature 0 requests, unless one opts in"
    )
    unset_temperature_deterministic: bool = Field(
        default=False,
        description="deterministic_only: an unset temperature counts as 0 on this route",
    )
    semantic_threshold: float = Field(
        default=SEMANTIC_THRESHOLD,
        gt=0,
        le=1,
        description="semantic: the cosine similarity of prompt embeddings for a hit",
    )

    @model_validator(mode="after")
    def _settings_fit(self) -> Self:
        # A setting that the rest of the section makes inert is most likely a mistake.
        # Judged by value, not presence: a dumped config carries every default.
        fields = type(self).model_fields
        if (
            self.mode != "semantic"
            and self.semantic_threshold != fields["semantic_threshold"].default
        ):
            raise ValueError(
                f"semantic_threshold: only mode semantic takes it (mode is {self.mode})"
            )
        if self.unset_temperature_deterministic and not self.deterministic_only:
            raise ValueError(
                "unset_temperature_deterministic: only matters with deterministic_only"
                " (which is false: every temperature is cached)"
            )
        return self


class CacheTicket(_Config):
    """A cacheable request's keys, carried on its dispatch event so that dispatch can send
    the answer (or the failure) back to the cache partition that waits for it."""

    route: str = Field(min_length=1, description="the route whose cache this is")
    key: str = Field(min_length=1, description="the exact key")
    partition_key: str = Field(min_length=1, description="the cache topic's key")
    scope: str = Field(min_length=1, description="everything but the prompt, hashed")
    mode: CacheMode = "exact"
    prompt: str = Field(default="", description="semantic: the text compared and embedded")


# -- the state topic ---------------------------------------------------------------------


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntryRecord(_Part):
    """A stored answer: the response event's JSON, whose request it answered, its times."""

    response: str = Field(description="the LLMResponse JSON as published (UTF-8 text)")
    origin: str = Field(description="request_id of the request whose answer this is")
    prompt: str = Field(
        default="", description="semantic routes: the prompt text embedded in the index"
    )
    scope: str = Field(default="", description="semantic routes: the index scope of the prompt")
    stored_at: float = Field(description="epoch seconds")
    expires_at: float = Field(description="epoch seconds: not served from then on")


class WaiterRecord(_Part):
    """A request parked behind a leader in flight: answered by the leader's fill or fail."""

    request_id: str = RequestId
    tenant: str
    deadline: float = Field(description="epoch seconds: a deadline letter from then on")
    offset: int = Field(ge=0, description="its lookup's offset on the cache topic")
    first_seen: float = Field(default=0.0, description="epoch seconds it was first seen")


class FlightRecord(_Part):
    """A leader sent to dispatch for this key, and the identical requests waiting on it."""

    leader: str = RequestId
    leader_offset: int = Field(ge=0, description="the leader's lookup offset")
    deadline: float = Field(description="epoch seconds: the leader's deadline")
    waiters: list[WaiterRecord] = Field(default_factory=list)


class CacheRecord(Event):
    """One key's state at one moment; replays past ``confirmed_offset`` are harmless."""

    topic_key_field: ClassVar[str] = "key"
    schema_version: Literal[1] = SCHEMA_VERSION
    key: str = Field(min_length=1)
    route: str = Field(min_length=1, description="the route whose cache holds the key")
    confirmed_offset: int = Field(
        ge=-1, description="every event of this key up to here is decided and published"
    )
    entry: EntryRecord | None = None
    flight: FlightRecord | None = None
    written_at: datetime = Field(default_factory=utcnow)
