"""Render the per-model usage report as a fixed-width table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

_COLUMNS = [
    ("model", "model", "<"),
    ("attempts", "attempts", ">"),
    ("successes", "ok", ">"),
    ("interrupted", "interrupted", ">"),
    ("error_rate", "err%", ">"),
    ("fallback_rate", "fallback%", ">"),
    ("p50_ms", "p50 ms", ">"),
    ("p95_ms", "p95 ms", ">"),
    ("p99_ms", "p99 ms", ">"),
    ("input_tokens", "in tok", ">"),
    ("output_tokens", "out tok", ">"),
    ("cost_usd", "cost $", ">"),
]


def _cell(key: str, value: Any) -> str:
    if key in ("error_rate", "fallback_rate"):
        return f"{float(value) * 100:.1f}"
    if key == "cost_usd":
        return f"{Decimal(str(value)):.6f}"
    return str(value)


def format_report(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no usage recorded yet"
    table = [[title for _, title, _ in _COLUMNS]]
    table += [[_cell(key, row[key]) for key, _, _ in _COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    lines = []
    for r in table:
        cells = [f"{c:{align}{w}}" for c, (_, _, align), w in zip(r, _COLUMNS, widths, strict=True)]
        lines.append("  ".join(cells))
    total = sum(Decimal(str(row["cost_usd"])) for row in rows)
    calls = sum(int(r["attempts"]) for r in rows)
    interrupted = sum(int(r["interrupted"]) for r in rows)
    summary = f"total cost: ${total:.6f} over {calls} attempts"
    if interrupted:
        # Those calls were made but their result, and so their cost, is unknown.
        summary += f", {interrupted} interrupted (cost unknown)"
    lines.append(summary)
    return "\n".join(lines)
