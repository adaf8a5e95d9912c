"""A generated corpus for measuring PII detection: planted values and look-alikes.

Each positive text plants one value (tests/policy/pii_values.py: valid by its format's own
rules, check digits computed from the specifications) in prose, JSON, CSV, code or a URL-ish
context. Look-alikes (tests/policy/pii_look_alikes.py) carry no planted value: anything
found in them counts against precision.

``build_corpus(seed)`` is deterministic; ``score`` turns a finder's output into per-kind
precision and recall:

- a planted value is recalled when a finding of its kind covers all of it;
- a finding is a true positive when it overlaps a planted value of its kind, and a false
  positive otherwise (a wrong kind, or a look-alike).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from policy.pii import Finding
from tests.policy.pii_look_alikes import LOOK_ALIKES
from tests.policy.pii_values import LABELLED, POSITIVE_GENERATORS, Gen

__all__ = [
    "LOOK_ALIKES",
    "POSITIVE_GENERATORS",
    "Case",
    "KindScore",
    "Planted",
    "build_corpus",
    "score",
]


@dataclass(frozen=True)
class Planted:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Case:
    label: str
    text: str
    planted: tuple[Planted, ...]


# --- sentences -----------------------------------------------------------------------

_FILLER = [
    "Please summarise the thread below for the weekly report.",
    "The deploy on Tuesday went fine, apart from the cache warm-up.",
    "Can you rewrite this paragraph so it sounds less formal?",
    "We moved 3 services to the new cluster and 2 are still pending.",
    "Our SLA is 99.9% and the p99 latency budget is 250 ms.",
    "The meeting is at 10:30 in room 4B; bring the Q3 numbers.",
    "Attached is the log excerpt from build 4812 of the nightly job.",
]

# Templates that introduce a value; "{}" is where it goes.
_TEMPLATES: dict[str, list[str]] = {
    "email": ["Reply to {} when you are done.", "Contact: {}", "cc {} on the ticket"],
    "phone": ["Call me on {} after five.", "Phone: {}", "my number is {}, text first"],
    "payment_card": ["Charge the card {} for the renewal.", "card number {} exp 09/27"],
    "iban": ["Wire it to {} before Friday.", "IBAN: {}", "account {} (business)"],
    "ip_address": [
        "The box at {} keeps timing out.",
        "blocked src={} on port 443",
        "host {} is down",
    ],
    "secret": ["here is my key {} can you see why it fails", "token={}", "use this:\n{}\n"],
}


def _id_template(rnd: random.Random, value: str) -> str:
    """The sentence for a national id: bare digits get the word that names their scheme."""
    if value.isdigit():
        from_length = {11: "CPF: {}", 12: "Aadhaar no. {}"}
        if len(value) in from_length:
            return from_length[len(value)]
        # Nine digits: make_bsn's end in an 11-check digit, make_ssn's need not.
        return "BSN {}" if _bsn_ok(value) else "SSN {}"
    return rnd.choice(["my id is {} as on the form", "ID: {}", "({}) on file"])


def _bsn_ok(value: str) -> bool:
    total = sum(int(d) * w for d, w in zip(value[:8], range(9, 1, -1), strict=True))
    return total % 11 == int(value[8])


# Where values sit in real prompts besides prose: JSON, CSV, code, URLs, end of sentence.
_CONTEXTS = [
    '{"user": {"contact": "{}", "n": 2}}',
    "42,{},2024-05-01,ok",
    'value = "{}"  # from the form',
    "it was {}.",
    "see ({})",
    "\n{}\n",
]


def _template(rnd: random.Random, kind: str, value: str) -> tuple[str, str]:
    """The sentence a value goes in, and the value itself (a label marker removed)."""
    for marker, templates in LABELLED.items():
        if value.startswith(marker):
            return rnd.choice(templates), value.removeprefix(marker)
    if kind == "national_id":
        return _id_template(rnd, value), value
    if "\n" not in value and rnd.random() < 0.4:
        return rnd.choice(_CONTEXTS), value
    return rnd.choice(_TEMPLATES[kind]), value


def _positive(rnd: random.Random, gen: Gen) -> Case:
    kind, value = gen(rnd)
    template, value = _template(rnd, kind, value)
    before = rnd.choice(_FILLER) + " "
    head, tail = template.split("{}")
    text = before + head + value + tail + " " + rnd.choice(_FILLER)
    start = len(before) + len(head)
    return Case(kind, text, (Planted(kind, start, start + len(value)),))


def build_corpus(seed: int = 14, per_kind: int = 150, per_look_alike: int = 60) -> list[Case]:
    rnd = random.Random(seed)
    cases = [_positive(rnd, gen) for gen in POSITIVE_GENERATORS.values() for _ in range(per_kind)]
    for label, make in LOOK_ALIKES.items():
        for _ in range(per_look_alike):
            text = f"{rnd.choice(_FILLER)} {make(rnd)} {rnd.choice(_FILLER)}"
            cases.append(Case(f"look-alike:{label}", text, ()))
    return cases


@dataclass
class KindScore:
    planted: int = 0
    recalled: int = 0
    found: int = 0
    true_found: int = 0
    false_positive_labels: dict[str, int] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.true_found / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.recalled / self.planted if self.planted else 1.0


def score(cases: Iterable[Case], finder: Callable[[str], list[Finding]]) -> dict[str, KindScore]:
    scores: dict[str, KindScore] = {kind: KindScore() for kind in POSITIVE_GENERATORS}
    for case in cases:
        findings = finder(case.text)
        for p in case.planted:
            s = scores[p.kind]
            s.planted += 1
            if any(f.kind == p.kind and f.start <= p.start and f.end >= p.end for f in findings):
                s.recalled += 1
        for f in findings:
            s = scores.setdefault(f.kind, KindScore())
            s.found += 1
            if any(p.kind == f.kind and p.start < f.end and f.start < p.end for p in case.planted):
                s.true_found += 1
            else:
                s.false_positive_labels[case.label] = s.false_positive_labels.get(case.label, 0) + 1
    return scores
