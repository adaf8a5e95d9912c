"""Which PII policy a request gets, and what it does to the request's text.

A request can fall under three policies at once: ``pii.default``, its tenant's
(``pii.tenants``) and its route's (``routes[].pii``). All of them are enforced. They
combine kind by kind: every kind or custom pattern any of them names is looked for, and
each gets the strictest mode among the policies that name it (block > placeholder >
mask). A tenant that blocks cards under a default that masks everything thus blocks on a
card and masks an email, instead of blocking on the email too, which one mode for the
whole request would do. A policy can add to what another asks, never take from it.

Phone numbers written without a country code are read in one region: the tenant's if its
policy looks for phones, else the route's, else the default's.

What is scanned: the text of every message (string content and text parts, whatever the
role: tool results included) and the string values inside assistant tool calls'
arguments. Not scanned: images, tool definitions, the response format's schema, stop
sequences, tool and call names and ids, metadata (it is not sent to providers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from policy.pii import Finding, Placeholders, Restorer, find, mask
from schemas.chat import ChatMessage, TextPart, ToolCall
from schemas.config import GatewayConfig
from schemas.events import LLMRequest
from schemas.pii import CustomPattern, PiiConfig, PiiKind, PiiMode, PiiRedaction

_STRENGTH = {PiiMode.MASK: 0, PiiMode.PLACEHOLDER: 1, PiiMode.BLOCK: 2}


@dataclass(frozen=True)
class PiiPolicy:
    """The policies that apply to a request, combined: what to look for, and per kind
    (or custom pattern name) what to do with a value found."""

    scan: PiiConfig
    modes: Mapping[str, PiiMode]

    @property
    def blocks(self) -> bool:
        return PiiMode.BLOCK in self.modes.values()


def policy_for(config: GatewayConfig, route: str, tenant: str) -> PiiPolicy | None:
    """The combined policy of a request on ``route`` from ``tenant``; None: no policy."""
    found = config.route(route)
    route_policy = found.pii if found is not None else None
    tenant_policy = config.pii.tenants.get(tenant)
    applying = [p for p in (config.pii.default, route_policy, tenant_policy) if p is not None]
    return combine(tuple(applying)) if applying else None


@lru_cache(maxsize=1024)
def combine(policies: tuple[PiiConfig, ...]) -> PiiPolicy:
    """``policies`` as one, least specific first (the last that looks for phones sets
    their region). Cached: a worker sees few distinct combinations."""
    modes: dict[str, PiiMode] = {}
    patterns: dict[str, CustomPattern] = {}
    region = policies[0].phone_region
    for policy in policies:
        names = [str(k) for k in policy.kinds] + [p.name for p in policy.custom_patterns]
        for name in names:
            held = modes.get(name)
            if held is None or _STRENGTH[policy.mode] > _STRENGTH[held]:
                modes[name] = policy.mode
        for pattern in policy.custom_patterns:
            # The config refuses one name for two regexes: the first is the only one.
            patterns.setdefault(pattern.name, pattern)
        if PiiKind.PHONE in policy.kinds:
            region = policy.phone_region
    scan = PiiConfig(
        kinds=frozenset(k for k in PiiKind if k in modes),
        phone_region=region,
        custom_patterns=tuple(patterns.values()),
    )
    return PiiPolicy(scan, dict(sorted(modes.items())))


# --- scanning (triage's block) -------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    """The string leaves of a JSON value (tool-call arguments); keys are left alone."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def request_texts(messages: Sequence[ChatMessage]) -> Iterator[str]:
    """Every text of ``messages`` a policy covers, in order."""
    for message in messages:
        if isinstance(message.content, str):
            if message.content:
                yield message.content
        else:
            yield from (p.text for p in message.content if isinstance(p, TextPart))
        for call in message.tool_calls:
            yield from _strings(call.arguments)


def count_found(request: LLMRequest, policy: PiiPolicy) -> dict[str, int]:
    """How many values of each kind ``request`` holds, kinds sorted."""
    counts: dict[str, int] = {}
    for text in request_texts(request.messages):
        for finding in find(text, policy.scan):
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return dict(sorted(counts.items()))


def blocked(counts: Mapping[str, int], policy: PiiPolicy) -> dict[str, int]:
    """The counts of the kinds ``policy`` blocks."""
    return {k: n for k, n in counts.items() if policy.modes.get(k) is PiiMode.BLOCK}


# --- redacting (dispatch's call boundary) --------------------------------------------


def boundary_mode(policy: PiiPolicy, kind: str) -> PiiMode:
    """What a value of ``kind`` becomes in text that leaves for a provider. A blocked kind
    is masked: text that reaches the call boundary passed triage's scan, so a find there
    is in text triage never saw (a judge prompt quoting answers) or under a config that
    changed since, and the call goes on without the value."""
    mode = policy.modes.get(kind, PiiMode.MASK)
    return PiiMode.PLACEHOLDER if mode is PiiMode.PLACEHOLDER else PiiMode.MASK


class RequestRedactor:
    """Redacts the texts of one request attempt. Placeholder tokens come from the one
    :class:`Placeholders` it holds, so a value gets the same token in every message and
    every call of the attempt; ``counts`` tallies the values found."""

    def __init__(self, policy: PiiPolicy) -> None:
        self.policy = policy
        self.placeholders = Placeholders()

    def __repr__(self) -> str:
        return f"RequestRedactor({self.placeholders!r})"

    def text(self, text: str, counts: dict[str, int]) -> str:
        findings = find(text, self.policy.scan)
        if not findings:
            return text
        out: list[str] = []
        at = 0
        for f in findings:
            counts[f.kind] = counts.get(f.kind, 0) + 1
            value = text[f.start : f.end]
            alone = [Finding(f.kind, 0, len(value), f.detector)]
            if boundary_mode(self.policy, f.kind) is PiiMode.PLACEHOLDER:
                out += (text[at : f.start], self.placeholders.apply(value, alone))
            else:
                out += (text[at : f.start], mask(value, alone))
            at = f.end
        out.append(text[at:])
        return "".join(out)

    def _value(self, value: Any, counts: dict[str, int]) -> Any:
        if isinstance(value, str):
            return self.text(value, counts)
        if isinstance(value, dict):
            return {k: self._value(v, counts) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, counts) for v in value]
        return value

    def message(self, message: ChatMessage, counts: dict[str, int]) -> ChatMessage:
        update: dict[str, Any] = {}
        if isinstance(message.content, str):
            content: str | list[Any] = self.text(message.content, counts)
        else:
            content = [
                p.model_copy(update={"text": self.text(p.text, counts)})
                if isinstance(p, TextPart)
                else p
                for p in message.content
            ]
        if content != message.content:
            update["content"] = content
        calls = [
            c.model_copy(update={"arguments": self._value(c.arguments, counts)})
            for c in message.tool_calls
        ]
        if calls != message.tool_calls:
            update["tool_calls"] = calls
        return message.model_copy(update=update) if update else message

    def request(self, request: LLMRequest, counts: dict[str, int]) -> LLMRequest:
        """``request`` with its covered texts redacted (the same object when none was)."""
        messages = [self.message(m, counts) for m in request.messages]
        if all(a is b for a, b in zip(messages, request.messages, strict=True)):
            return request
        return request.model_copy(update={"messages": messages})

    def record(self, counts: Mapping[str, int]) -> PiiRedaction:
        """What was done to the values counted, for the response and the usage row."""
        modes = {k: boundary_mode(self.policy, k) for k in counts}
        return PiiRedaction(counts=dict(sorted(counts.items())), modes=modes)


def restore_value(value: Any, restorer: Restorer) -> Any:
    """``value`` (a JSON value: tool-call arguments) with tokens in its strings restored."""
    if isinstance(value, str):
        return restorer.restore(value)
    if isinstance(value, dict):
        return {k: restore_value(v, restorer) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_value(v, restorer) for v in value]
    return value


def restore_calls(calls: Sequence[ToolCall], restorer: Restorer) -> list[ToolCall]:
    return [c.model_copy(update={"arguments": restore_value(c.arguments, restorer)}) for c in calls]
