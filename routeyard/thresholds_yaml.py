"""Put ``router.thresholds`` into a YAML config file, leaving every other byte as it was.

A YAML round trip (load, change, dump) would drop the comments and redo the layout and
quoting of a hand-kept file. So the edit is textual, at the positions the YAML parser
reports:

- thresholds present: only the two numbers' text changes (comments stay);
- ``thresholds:`` empty or null: its value becomes ``{moderate: M, complex: C}``;
- a ``router:`` mapping without thresholds: a ``thresholds:`` line is added as its first
  key (in a flow mapping, a last entry);
- ``router:`` empty or null: its value becomes ``{thresholds: {...}}``;
- no ``router:``: a block is appended at the end.

The edited text must then load to the same data as before except ``router.thresholds``
(checked); any layout this cannot edit safely (anchors shared with other keys, merge keys,
a value of another type) raises :class:`ThresholdsEditError` and leaves the file alone.
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from schemas.router import TierThresholds


class ThresholdsEditError(Exception):
    """The file's layout cannot be edited safely; the message says why."""


def number(value: float) -> str:
    """A YAML float without an exponent (PyYAML reads ``1e-05`` as a string)."""
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else f"{text}.0"


def flow(thresholds: TierThresholds) -> str:
    return f"{{moderate: {number(thresholds.moderate)}, complex: {number(thresholds.complex)}}}"


def snippet(thresholds: TierThresholds) -> str:
    """The block to put in a config by hand."""
    return f"router:\n  thresholds: {flow(thresholds)}\n"


def _key(node: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == name]
    if len(found) > 1:
        raise ThresholdsEditError(f"{name} is given {len(found)} times")
    return found[0] if found else None


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def _set_null(text: str, node: yaml.Node, value: str) -> str:
    start, end = node.start_mark.index, node.end_mark.index
    # An empty value starts right after its colon.
    return _splice(text, start, end, value if end > start else f" {value}")


def _edit_thresholds(text: str, node: yaml.Node, thresholds: TierThresholds) -> str:
    if _is_null(node):
        return _set_null(text, node, flow(thresholds))
    if not isinstance(node, yaml.MappingNode):
        raise ThresholdsEditError("router.thresholds is neither a mapping nor empty")
    edits = []
    for name in ("moderate", "complex"):
        entry = _key(node, name)
        if entry is None or not isinstance(entry[1], yaml.ScalarNode) or _is_null(entry[1]):
            raise ThresholdsEditError(f"router.thresholds.{name} is not a number to replace")
        value = entry[1]
        edits.append((value.start_mark.index, value.end_mark.index, getattr(thresholds, name)))
    for start, end, value in sorted(edits, reverse=True):
        text = _splice(text, start, end, number(value))
    return text


def _add_thresholds(text: str, router: yaml.MappingNode, thresholds: TierThresholds) -> str:
    entry = f"thresholds: {flow(thresholds)}"
    if router.flow_style:
        close = router.end_mark.index - 1
        if text[close] != "}":
            raise ThresholdsEditError("router's flow mapping does not end in }")
        return _splice(text, close, close, f", {entry}" if router.value else entry)
    first = router.value[0][0]
    line_start = first.start_mark.index - first.start_mark.column
    if text[line_start : first.start_mark.index].strip():
        raise ThresholdsEditError("router's first key does not start its line")
    indent = " " * first.start_mark.column
    return _splice(text, line_start, line_start, f"{indent}{entry}{_newline(text)}")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def edited(text: str, thresholds: TierThresholds) -> str:
    """``text`` with ``router.thresholds`` set to ``thresholds``, nothing else changed."""
    try:
        root = yaml.compose(text)
        before = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ThresholdsEditError(f"not readable YAML: {exc}") from exc
    if not isinstance(root, yaml.MappingNode) or not isinstance(before, dict):
        raise ThresholdsEditError("the file is not a YAML mapping")
    found = _key(root, "router")
    if found is None:
        nl = _newline(text)
        tail = "" if not text or text.endswith(("\n", "\r")) else nl
        new = f"{text}{tail}router:{nl}  thresholds: {flow(thresholds)}{nl}"
    elif _is_null(found[1]):
        new = _set_null(text, found[1], f"{{thresholds: {flow(thresholds)}}}")
    elif isinstance(found[1], yaml.MappingNode):
        entry = _key(found[1], "thresholds")
        if entry is None:
            new = _add_thresholds(text, found[1], thresholds)
        else:
            new = _edit_thresholds(text, entry[1], thresholds)
    else:
        raise ThresholdsEditError("router is neither a mapping nor empty")
    _check(before, new, thresholds)
    return new


def _unshared(value: Any) -> Any:
    """A copy in which no two keys share a mapping or list (deepcopy keeps an alias's
    sharing, which would let an edit through an anchor look like a change of one key)."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def _check(before: dict[str, Any], new: str, thresholds: TierThresholds) -> None:
    expected = _unshared(before)
    router = expected.get("router") or {}
    router["thresholds"] = {"moderate": thresholds.moderate, "complex": thresholds.complex}
    expected["router"] = router
    try:
        after = yaml.safe_load(new)
    except yaml.YAMLError as exc:
        raise ThresholdsEditError(f"the edit would not be readable YAML: {exc}") from exc
    if after != expected:
        raise ThresholdsEditError(
            "the edit would change more than router.thresholds (anchors, aliases or merge"
            " keys share the block)"
        )


def read(path: Path) -> str:
    try:
        return path.read_bytes().decode()
    except UnicodeDecodeError as exc:
        raise ThresholdsEditError(f"not UTF-8: {exc}") from exc


def replace_file(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file beside it renamed over it, so a
    reader sees the old file or the new one (same permissions), never half of one."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode())
        os.chmod(temp, path.stat().st_mode & 0o7777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
