"""A chaos run in words: the method with the times faults happened, the table, the verdict."""

from __future__ import annotations

from collections import Counter

from devtools.chaos.faults import FaultRecord
from devtools.chaos.fleet import Fleet
from devtools.chaos.plan import ChaosPlan, Event
from devtools.chaos.result import ChaosResult


def describe_method(
    plan: ChaosPlan,
    fleet: Fleet,
    hang_s: float,
    traffic: list[Event],
    published_at: float,
    records: list[FaultRecord],
) -> list[str]:
    """Processes, traffic, the emulator's profile, and the faults as they actually happened."""
    kinds = Counter(e.kind for e in traffic)
    errors = ", ".join(f"{status} {rate:.0%}" for status, rate in sorted(plan.error_rates.items()))
    return [
        f"processes: real Kafka broker, the provider emulator, {fleet.describe()}"
        f" (dispatch.inline_first_attempts {'on' if plan.inline_first_attempts else 'off'})",
        f"traffic: {len(traffic)} events paced at {plan.rate:g}/s over {published_at:.1f} s:"
        f" {kinds['valid']} valid requests (~{plan.image_share:.0%} with an image by URL;"
        " routes default, summarize, code, on-prem, budget, search),"
        f" {kinds['not_json']} not JSON, {kinds['schema_invalid']} schema-invalid",
        f"emulator: latency lognormal median {plan.latency_median_ms:g} ms; errors {errors};"
        f" hangs {plan.hang_rate:.0%} for {hang_s:g} s; provider timeout"
        f" {plan.provider_timeout_s:g} s",
        "faults (t = seconds since the first publish):",
        *(f"  {r.line()}" for r in sorted(records, key=lambda r: r.planned_at)),
    ]


def render(result: ChaosResult) -> str:
    """The method, then the table, then the verdict."""

    def secs(value: float | None) -> str:
        if value is None:
            return "never"
        return f"{value:.1f} s" if value >= 0 else f"{-value:.1f} s before it"

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

    usage = result.usage
    basis = (
        "distinct call_id, outcome not rejected or skipped"
        if usage.get("call_id")
        else "usage_dedup rows, outcome not rejected or skipped (no call_id column yet)"
    )
    multi = result.duplicates + len(result.conflicting)
    drain = result.drain
    rows = [
        ("published", f"{result.published_valid} valid + {counts(result.published_bad)}"),
        ("answered", str(result.answered)),
        ("dead-lettered (valid ids)", counts(result.dead_lettered)),
        ("bad events dead-lettered", counts(result.bad_dead_lettered)),
        ("bad events w/o dead letter", str(len(result.bad_missing))),
        ("LOST", str(len(result.lost))),
        (
            "more than one outcome",
            f"{multi}: same kind {result.duplicates}, CONFLICTING {len(result.conflicting)}",
        ),
        (
            "usage rows",
            f"table {usage.get('rows', 0)} (rejected {usage.get('rejected', 0)}),"
            f" dedup view {usage.get('dedup_rows', 0)}",
        ),
        ("usage calls", f"{result.usage_calls} ({basis})"),
        ("usage row outcomes", counts(usage.get("outcomes", {}))),
        (
            "provider calls (emulator)",
            f"{result.provider_calls}: {counts(result.emulator_outcomes)}",
        ),
        ("usage calls - provider calls", f"{result.usage_calls - result.provider_calls:+d}"),
        (
            "usage calls by state",
            f"completed {result.completed_calls}, interrupted {result.interrupted_calls}"
            " (killed mid-call: sent or not, unknown)",
        ),
        (
            "last fault cleared",
            f"t={drain['last_fault_cleared_at']:.1f}"
            f" (publishing ended t={drain['published_at']:.1f})",
        ),
        (
            "drain after it",
            f"outcomes complete {secs(drain['outcomes_complete'])},"
            f" pipeline idle {secs(drain['pipeline_idle'])},"
            f" usage committed {secs(drain['usage_committed'])}",
        ),
        (
            "run",
            f"{result.run_s:.1f} s in all, {drain['traffic_s']:.1f} s from first publish"
            " to workers stopped",
        ),
        ("worker exit codes at the end", counts(result.exit_codes)),
    ]
    if result.unattributed_dead_letters or result.garbled_outcomes:
        rows.append(
            (
                "unmatched outcomes",
                f"{result.unattributed_dead_letters} dead letters"
                f" without a known id, {result.garbled_outcomes} not JSON",
            )
        )
    width = max(len(k) for k, _ in rows)
    lines = ["method:", *(f"  {m}" for m in result.method)]
    lines += [f"  {note}" for note in result.notes]
    lines += ["", "result:", *(f"  {k.ljust(width)}  {v}" for k, v in rows)]
    if result.lost:
        lines.append(f"  lost, first ids: {', '.join(result.lost[:5])}")
    if result.conflicting:
        lines.append(f"  conflicting, first: {'; '.join(result.conflicting[:3])}")
    failures = result.failures()
    lines.append("")
    lines.append("verdict: " + ("PASS" if not failures else "FAIL (" + "; ".join(failures) + ")"))
    return "\n".join(lines)
