"""PII redaction settings: which kinds to look for, what to do on a find, custom patterns.

A route or tenant that carries a :class:`PiiConfig` has its prompts scanned before dispatch
(policy.pii). ``mask`` replaces each find with ``[KIND]`` for good; ``placeholder``
replaces it with a token stable within the request (``<<EMAIL_1>>``) and puts the value
back in the response; ``block`` refuses the request naming the kinds found, never the
values.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Self

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    PAYMENT_CARD = "payment_card"
    IBAN = "iban"
    NATIONAL_ID = "national_id"
    IP_ADDRESS = "ip_address"
    SECRET = "secret"


class PiiMode(StrEnum):
    MASK = "mask"
    PLACEHOLDER = "placeholder"
    BLOCK = "block"


# A custom pattern's name becomes part of a mask or token (``[EMPLOYEE_ID]``), so it must
# be a short identifier: anything else could itself look like data or break a token.
PatternName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomPattern(_Config):
    name: PatternName
    regex: str = Field(min_length=1, max_length=2000)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        # A pattern that matches nothing at all would redact empty spans everywhere.
        if compiled.fullmatch("") is not None:
            raise ValueError("matches the empty string")
        return value

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value in PiiKind.__members__.values():
            raise ValueError(f"{value!r} is a built-in kind; custom patterns need their own name")
        return value


def _all_kinds() -> frozenset[PiiKind]:
    return frozenset(PiiKind)


class PiiConfig(_Config):
    mode: PiiMode = PiiMode.MASK
    kinds: frozenset[PiiKind] = Field(
        default_factory=_all_kinds, description="built-in detectors to run (default: all)"
    )
    phone_region: str = Field(
        default="US",
        description="region for phone numbers written without a +country code (ISO 3166 alpha-2)",
    )
    custom_patterns: tuple[CustomPattern, ...] = Field(default=(), max_length=50)

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. US, GB, DE)")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for i, pattern in enumerate(self.custom_patterns):
            if pattern.name in seen:
                raise ValueError(f"custom_patterns[{i}].name: duplicate name {pattern.name!r}")
            seen.add(pattern.name)
        return self


# A request's tenant field allows exactly this: a key no request can carry is a typo.
TenantName = Annotated[str, Field(min_length=1, max_length=64)]


class PiiPolicies(_Config):
    """The ``pii:`` section: a policy for every tenant and one per tenant. Routes carry
    their own (``routes[].pii``). Every policy that applies to a request is enforced:
    see :mod:`policy.pii_policy` for how they combine."""

    default: PiiConfig | None = Field(default=None, description="applies to every request")
    tenants: dict[TenantName, PiiConfig] = Field(
        default_factory=dict, description="applies to the tenant's requests, on top of default"
    )

    def applying(self, tenant: str) -> list[PiiConfig]:
        """The section's policies for ``tenant``: default first, then the tenant's."""
        found = [self.default, self.tenants.get(tenant)]
        return [p for p in found if p is not None]


def check_patterns_agree(policies: list[tuple[str, PiiConfig]]) -> None:
    """Raise ValueError when one custom pattern name stands for two regexes.

    Policies combine, and a name is what a value becomes (``[EMPLOYEE_ID]``) and how it
    is counted; two meanings under one name would make both ambiguous.
    """
    seen: dict[str, tuple[str, str]] = {}
    for where, policy in policies:
        for i, pattern in enumerate(policy.custom_patterns):
            first = seen.setdefault(pattern.name, (where, pattern.regex))
            if first[1] != pattern.regex:
                raise ValueError(
                    f"{where}.custom_patterns[{i}].regex: {pattern.name!r} is defined with a"
                    f" different regex in {first[0]}; one name, one regex across pii policies"
                )


class PiiRedaction(_Config):
    """What the PII policy did to a request before any of it left: how many values of
    each kind were found and what each kind's values became. Never the values."""

    counts: dict[str, int] = Field(default_factory=dict, description="values found, by kind")
    modes: dict[str, PiiMode] = Field(
        default_factory=dict, description="for each kind found: mask, placeholder or block"
    )
