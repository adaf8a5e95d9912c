"""How far each input-token estimate is from the real tokenizers, and what it costs.

    bash benchmarks/token_refs.sh /tmp/tokrefs         # the references, outside the venv
    .venv/bin/python benchmarks/token_estimate.py --refs /tmp/tokrefs --record
    .venv/bin/python benchmarks/token_estimate.py --fit   # class weights for policy/tokens.py
    .venv/bin/python benchmarks/token_estimate.py         # the tables, from the recording

Each corpus sample (benchmarks/token_corpus.py) is sent as a one-user-message request and
compared with the reference's count of that request; the corpus's conversations (4 to 60
messages) are compared where the reference renders a whole chat. References:

- ``openai-o200k``/``openai-cl100k``: OpenAI's encodings, exact for text; the chat overhead
  (3 per message + 3) is OpenAI's documented figure, not verifiable offline.
- ``mistral-tekken``/``mistral-spm``: mistral-common's own tokenizers and chat encoding.
- ``llama3``: Meta's llama-models tokenizer and chat format.
- ``anthropic``/``anthropic-4.7``: ctok, a reconstruction of Claude's counts from
  count_tokens probes (its authors report exact agreement on held-out sets); one message.
- ``claude-2``: the tokenizer.json that the anthropic SDK shipped up to 0.38.0, shown only
  to say how far that old tokenizer is from Claude 3 and later.

Methods: ``bytes/3`` is policy/estimate.py's rule today (UTF-8 bytes / 3 + 4 per message),
``chars/4`` the common rule of thumb, ``o200k`` the o200k_base count with the family's chat
overhead, ``family`` policy/tokens.py, ``default`` its fallback for unknown models. Error is
(estimate - reference) / reference; ``under`` is the worst under-estimate; ``need`` the
margin on the estimate that covers every sample (reference / estimate - 1); ``covered``
how many samples the family's margin covers; ``chats`` the mean error on the chats.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.token_corpus import (  # noqa: E402
    RECORDING,
    Recording,
    checked,
    conversations,
    corpus,
    load_recording,
    long_prompt,
)
from policy import encodings  # noqa: E402
from policy.tokens import FAMILIES, Family, estimate_input_tokens, with_margin  # noqa: E402
from schemas.chat import ChatMessage  # noqa: E402

MEASURED: dict[str, Family] = {
    "openai-o200k": Family.OPENAI,
    "openai-cl100k": Family.OPENAI_CL100K,
    "mistral-tekken": Family.MISTRAL,
    "mistral-spm": Family.MISTRAL_SPM,
    "llama3": Family.LLAMA,
    "anthropic": Family.ANTHROPIC,
    "anthropic-4.7": Family.ANTHROPIC_47,
}
Chat = list[tuple[str, str]]


def _openai(name: encodings.EncodingName) -> tuple[Callable[[str], int], Callable[[Chat], int]]:
    def text(s: str) -> int:  # whole, unchunked: the reference for the chunked count
        return len(encodings.encoding(name).encode_ordinary(s))

    return text, lambda chat: sum(text(t) + 3 for _, t in chat) + 3


def load_references(
    refs: Path,
) -> dict[str, tuple[Callable[[str], int], Callable[[Chat], int] | None]]:
    """Each reference's (text count, whole-chat count or None)."""
    sys.path.insert(0, str(refs))
    import ctok
    import ctok.main
    from llama_models.datatypes import RawMessage
    from llama_models.llama3.chat_format import ChatFormat
    from llama_models.llama3.tokenizer import Tokenizer
    from mistral_common.protocol.instruct import messages as mm
    from mistral_common.protocol.instruct.request import (
        ChatCompletionRequest,
    )
    from mistral_common.tokens.tokenizers.mistral import (
        MistralTokenizer,
    )
    from tokenizers import Tokenizer as HFTokenizer

    def mistral(mt: object) -> tuple[Callable[[str], int], Callable[[Chat], int]]:
        raw = mt.instruct_tokenizer.tokenizer  # type: ignore[attr-defined]
        kinds = {
            "system": mm.SystemMessage,
            "user": mm.UserMessage,
            "assistant": mm.AssistantMessage,
        }

        def chat(c: Chat) -> int:
            # The corpus's chats end with a user turn, as mistral-common requires.
            request = ChatCompletionRequest(messages=[kinds[r](content=t) for r, t in c])
            return len(mt.encode_chat_completion(request).tokens)  # type: ignore[attr-defined]

        return (lambda s: len(raw.encode(s, bos=False, eos=False))), chat

    llama = Tokenizer(Path(refs) / "llama_models/llama3/tokenizer.model")
    llama_chat = ChatFormat(llama)

    def llama_text(s: str) -> int:
        return len(
            llama.encode(s, bos=False, eos=False, allowed_special=set(), disallowed_special=())
        )

    def claude(version: str) -> Callable[[str], int]:
        frame = ctok.main._model(ctok.main._family(version)).message_overhead
        return lambda s: ctok.token_count(s, version) - frame

    wheel = next(Path(refs).glob("anthropic-0.38.0-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        claude2 = HFTokenizer.from_str(z.read("anthropic/tokenizer.json").decode())
    return {
        "openai-o200k": _openai("o200k_base"),
        "openai-cl100k": _openai("cl100k_base"),
        "mistral-tekken": mistral(MistralTokenizer.v3(is_tekken=True, is_mm=True)),
        "mistral-spm": mistral(MistralTokenizer.v7()),
        "llama3": (
            llama_text,
            lambda c: len(
                llama_chat.encode_dialog_prompt(
                    [RawMessage(role=r, content=t) for r, t in c]
                ).tokens
            ),
        ),
        "anthropic": (
            claude("3.0"),
            lambda c: ctok.token_count(c[0][1], "3.0") if len(c) == 1 else -1,
        ),
        "anthropic-4.7": (
            claude("4.7"),
            lambda c: ctok.token_count(c[0][1], "4.7") if len(c) == 1 else -1,
        ),
        "claude-2": ((lambda s: len(claude2.encode(s).ids)), None),
    }


def record(refs: Path) -> None:
    references = load_references(refs)
    samples = corpus()
    chats = {k: c for k, (_, c) in references.items() if c is not None}
    whole_chats = {k: c for k, c in chats.items() if k not in ("anthropic", "anthropic-4.7")}
    out: Recording = {
        "samples": {
            s.id: {
                "kind": s.kind,
                "sha256": s.sha256,
                "text": {k: text(s.text) for k, (text, _) in references.items()},
                "request": {k: c([("user", s.text)]) for k, c in chats.items()},
            }
            for s in samples
        },
        "conversations": {
            conv.id: {k: c(list(conv.messages)) for k, c in whole_chats.items()}
            for conv in conversations()
        },
    }
    RECORDING.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(samples)} samples to {RECORDING.relative_to(ROOT)}")


def _messages(chat: Chat) -> list[ChatMessage]:
    return [ChatMessage.model_validate({"role": r, "content": t}) for r, t in chat]


def methods(family: Family) -> dict[str, Callable[[Chat], int]]:
    spec = FAMILIES[family]

    def o200k(chat: Chat) -> int:
        text = sum(encodings.count(t, "o200k_base") for _, t in chat)
        return text + spec.per_message * len(chat) + spec.per_request

    return {
        "bytes/3": lambda c: sum(math.ceil(len(t.encode()) / 3) + 4 for _, t in c),
        "chars/4": lambda c: sum(math.ceil(len(t) / 4) for _, t in c),
        "o200k": o200k,
        "family": lambda c: estimate_input_tokens(_messages(c), family),
        "default": lambda c: estimate_input_tokens(_messages(c), Family.DEFAULT),
    }


def errors(pairs: list[tuple[int, int]]) -> dict[str, float]:
    rel = sorted((est - ref) / ref for est, ref in pairs if ref > 0)
    absolute = sorted(abs(r) for r in rel)
    p95 = absolute[min(len(absolute) - 1, math.ceil(0.95 * len(absolute)) - 1)]
    return {
        "mean": statistics.fmean(absolute),
        "p95": p95,
        "max": absolute[-1],
        "under": max(0.0, -rel[0]),
        # The margin (relative to the estimate) that lifts every estimate to its reference.
        "need": max(0.0, max(ref / est - 1 for est, ref in pairs if ref > 0 and est > 0)),
    }


def _row(*cells: object) -> str:
    label, method, *numbers = cells
    return f"{label!s:15} {method!s:8} " + " ".join(f"{n!s:>7}" for n in numbers)


def table(min_tokens: int) -> None:
    rec = load_recording()
    samples = checked(rec)
    convs = {c.id: list(c.messages) for c in conversations()}
    print(f"{len(samples)} one-message requests checked, {len(convs)} chats")
    print(f"requests whose reference count is under {min_tokens} tokens are left out")
    print(_row("reference", "method", "mean", "p95", "max", "under", "need", "covered", "chats"))
    for ref, family in MEASURED.items():
        for name, method in methods(family).items():
            pairs = [
                (method([("user", s.text)]), e["request"][ref])
                for s, e in samples
                if e["request"].get(ref, 0) >= min_tokens
            ]
            err = errors(pairs)
            chat_pairs = [
                (method(convs[cid]), counts[ref])
                for cid, counts in rec["conversations"].items()
                if ref in counts and cid in convs
            ]
            chat = f"{errors(chat_pairs)['mean']:.3f}" if chat_pairs else "-"
            covered = ""
            if name in ("family", "default"):  # how many its margin brings up to the reference
                used = family if name == "family" else Family.DEFAULT
                covered = f"{sum(with_margin(est, used) >= r for est, r in pairs)}/{len(pairs)}"
            figures = (f"{err[k]:.3f}" for k in ("mean", "p95", "max", "under", "need"))
            print(_row(ref, name, *figures, covered, chat))
    pairs = [
        (e["text"]["claude-2"], e["text"]["anthropic"])
        for _, e in samples
        if e["text"]["anthropic"] >= min_tokens
    ]
    err = errors(pairs)
    print(
        f"claude-2 tokenizer vs ctok v3, text only: mean {err['mean']:.3f}"
        f" p95 {err['p95']:.3f} under {err['under']:.3f}"
    )


def fit() -> None:
    """Least squares on relative error, minimising sum(((X w) - y) / y)^2 over the samples;
    also fitted on the even samples alone and scored on the odd ones, the out-of-sample error."""
    import numpy as np

    rows = checked(load_recording())
    for ref in ("mistral-tekken", "mistral-spm", "llama3", "anthropic", "anthropic-4.7"):
        enc = FAMILIES[MEASURED[ref]].encoding
        x = np.array([encodings.count_classes(s.text, enc) for s, _ in rows], dtype=np.float64)
        y = np.array([e["text"][ref] for _, e in rows], dtype=np.float64)
        keep = y > 0
        even = keep & (np.arange(len(y)) % 2 == 0)
        odd = keep & (np.arange(len(y)) % 2 == 1)
        w, *_ = np.linalg.lstsq(x[keep] / y[keep, None], np.ones(int(keep.sum())), rcond=None)
        half, *_ = np.linalg.lstsq(x[even] / y[even, None], np.ones(int(even.sum())), rcond=None)
        held = np.abs(x[odd] @ half - y[odd]) / y[odd]
        print(f"{ref:15} ({enc}) weights {tuple(round(float(v), 3) for v in w)}")
        print(f"{'':15} held out: mean {held.mean():.3f} p95 {np.percentile(held, 95):.3f}")


def latency(repeats: int) -> None:
    encodings._load.cache_clear()
    started = time.perf_counter()
    for name in ("o200k_base", "cl100k_base"):
        encodings.encoding(name)
    print(f"load both encodings: {time.perf_counter() - started:.2f} s (once per process)")
    requests = [_messages(list(c.messages)) for c in conversations()] + [
        _messages([("user", s.text)]) for s in corpus()
    ]
    for family in (Family.OPENAI, Family.ANTHROPIC, Family.LLAMA):
        times = []
        for _ in range(repeats):
            for req in requests:
                t0 = time.perf_counter()
                estimate_input_tokens(req, family)
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        print(
            f"{family.value:14} {len(times)} requests: p50 {p50:.3f} ms  p99 {p99:.3f} ms"
            f"  max {times[-1]:.2f} ms"
        )
    big = long_prompt()
    cases = (
        ("900 KB corpus", big),
        ("900 KB one letter", "a" * 900_000),
        ("900 KB spaces", " " * 900_000),
    )
    for label, text in cases:
        msg = _messages([("user", text)])
        for family in (Family.OPENAI, Family.ANTHROPIC):
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                n = estimate_input_tokens(msg, family)
                runs.append((time.perf_counter() - t0) * 1000)
            print(
                f"{label:18} {family.value:13} {len(text.encode()):>7} B:"
                f" {statistics.median(runs):6.1f} ms, median of 3 ({n} tokens)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--refs", type=Path, help="folder made by benchmarks/token_refs.sh")
    parser.add_argument(
        "--record", action="store_true", help="record reference counts (needs --refs)"
    )
    parser.add_argument(
        "--fit", action="store_true", help="print class weights fitted to the recording"
    )
    parser.add_argument("--min-tokens", type=int, default=1, help="leave out smaller references")
    parser.add_argument("--repeats", type=int, default=5, help="latency passes over the corpus")
    args = parser.parse_args()
    if args.record:
        if args.refs is None:
            parser.error("--record needs --refs")
        record(args.refs)
    if args.fit:
        fit()
        return
    table(args.min_tokens)
    latency(args.repeats)


if __name__ == "__main__":
    main()
