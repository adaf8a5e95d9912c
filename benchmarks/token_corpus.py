# ruff: noqa: RUF001  (the corpus holds CJK and Cyrillic text on purpose)
"""A varied, deterministic corpus for measuring token estimates.

Two parts. *Real* text from RouteLLM's evaluation sets in ``shared/datasets/routellm``
(MT-bench conversations with code and markdown, GPT-4's judgements, GSM8K worked answers,
MMLU questions), sampled at fixed strides. *Generated* text from a seeded
``random.Random``: code, JSON, number tables, identifiers (hex, base64, UUIDs), CJK and
other scripts recombined from sentences written for this corpus, whitespace runs, and a
long multi-turn conversation. The same seed gives the same bytes on every machine, so
reference counts recorded once (``benchmarks/token_reference.json``) can be checked in CI
without the reference tokenizers; each sample's SHA-256 is recorded with them.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/routellm"
RECORDING = Path(__file__).resolve().parent / "token_reference.json"
SEED = 14


@dataclass(frozen=True)
class Sample:
    id: str
    kind: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class Conversation:
    id: str
    messages: tuple[tuple[str, str], ...]  # (role, text)


# Sentences written for this corpus (not quoted from anywhere), one list per script.
SENTENCES: dict[str, list[str]] = {
    "zh": [
        "今天早上我们在会议上讨论了新产品的发布计划。",
        "如果网络连接失败，系统会自动重试三次。",
        "这份报告总结了过去一年的销售数据和客户反馈。",
        "请在周五之前把修改后的合同发给法务部门。",
        "服务器的平均响应时间比上个月降低了百分之二十。",
        "他们决定把数据中心迁移到离用户更近的城市。",
        "模型在处理长文本时需要更多的内存和计算资源。",
        "我们的目标是在不增加成本的情况下提高服务质量。",
    ],
    "ja": [
        "明日の午後三時から定例会議を開きます。",
        "このライブラリはネットワークに接続せずに動作します。",
        "検索結果の順位は利用者の評価によって変わります。",
        "新しい設定ファイルを読み込むにはサービスを再起動してください。",
        "東京と大阪の間を新幹線で移動すると約二時間半かかります。",
        "エラーが発生した場合は管理者に連絡してください。",
        "私たちは毎週金曜日に進捗を確認しています。",
        "長い文章を要約する機能が追加されました。",
    ],
    "ko": [
        "다음 주 월요일에 새로운 버전을 배포할 예정입니다.",
        "요청이 너무 길면 모델이 처리할 수 없습니다.",
        "이 문서는 설치 방법과 설정 예시를 설명합니다.",
        "고객 지원팀은 평일 오전 아홉 시부터 운영됩니다.",
        "데이터베이스 백업은 매일 밤 자동으로 실행됩니다.",
        "비밀번호를 변경한 후에 다시 로그인해 주세요.",
        "서울의 겨울은 춥고 건조한 편입니다.",
        "검색 속도를 높이기 위해 색인을 다시 만들었습니다.",
    ],
    "ru": [
        "Завтра утром мы обсудим план выпуска новой версии.",
        "Если соединение прервётся, запрос будет повторён автоматически.",
        "Этот отчёт содержит данные о продажах за последний квартал.",
        "Пожалуйста, проверьте настройки перед запуском сервиса.",
        "Средняя задержка ответа снизилась на двадцать процентов.",
        "Мы перенесли базу данных на более быстрый сервер.",
    ],
    "de": [
        "Die Besprechung wurde auf Donnerstagnachmittag verschoben.",
        "Bitte überprüfen Sie die Konfigurationsdatei vor dem Neustart.",
        "Die Antwortzeiten des Servers haben sich deutlich verbessert.",
        "Wir müssen die Datenschutzerklärung bis Ende des Monats aktualisieren.",
        "Der Zug nach München fährt heute mit zwanzig Minuten Verspätung.",
        "Die Rechnungsstellung erfolgt automatisch am Monatsende.",
    ],
    "fr": [
        "La réunion de demain matin portera sur le budget de l'année prochaine.",
        "Veuillez redémarrer le service après avoir modifié la configuration.",
        "Les temps de réponse ont nettement diminué depuis la mise à jour.",
        "Nous avons déplacé la base de données vers un serveur plus rapide.",
        "Le rapport trimestriel sera publié la semaine prochaine.",
        "Chaque requête est enregistrée avec son coût estimé.",
    ],
}

_WORDS = [
    *("alpha", "beta", "gamma", "delta", "order", "invoice", "customer", "account", "total"),
    *("price", "amount", "status", "created", "updated", "region", "currency", "items"),
    *("quantity", "description", "enabled", "retries", "timeout", "user", "name", "email"),
    *("address", "city", "country", "score", "label", "value", "index", "weight", "latency"),
]


def _code(rng: random.Random) -> str:
    names = [rng.choice(_WORDS) + "_" + rng.choice(_WORDS) for _ in range(6)]
    lines = ["from __future__ import annotations", "", "import math", ""]
    for name in names[:3]:
        args = ", ".join(f"{rng.choice(_WORDS)}: int" for _ in range(rng.randint(1, 3)))
        lines += [
            f"def {name}({args}) -> float:",
            f'    """Return the {rng.choice(_WORDS)} of the {rng.choice(_WORDS)}."""',
            f"    total = {rng.randint(0, 999)}",
            f"    for i in range({rng.randint(2, 64)}):",
            f"        if i % {rng.randint(2, 7)} == 0:",
            f"            total += math.sqrt(i) * {rng.random():.4f}",
            "    return total",
            "",
        ]
    lines += [
        "const config = {",
        *(f"  {n}: {rng.randint(0, 10_000)}," for n in names[3:]),
        "};",
        "export function run(items) {",
        "  return items.filter((x) => x.enabled).map((x) => ({ ...x, score: x.score * 2 }));",
        "}",
    ]
    return "\n".join(lines)


def _json_doc(rng: random.Random, depth: int = 0) -> object:
    if depth > 2 or rng.random() < 0.3:
        pick = rng.randint(0, 4)
        if pick == 0:
            return rng.randint(-100_000, 100_000)
        if pick == 1:
            return round(rng.uniform(-1000, 1000), rng.randint(0, 6))
        if pick == 2:
            return rng.random() < 0.5
        if pick == 3:
            return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 6)))
        return None
    if rng.random() < 0.5:
        return [_json_doc(rng, depth + 1) for _ in range(rng.randint(1, 5))]
    return {rng.choice(_WORDS): _json_doc(rng, depth + 1) for _ in range(rng.randint(2, 7))}


def _numbers(rng: random.Random) -> str:
    rows = ["date,region,units,price,total"]
    for _ in range(rng.randint(10, 60)):
        units = rng.randint(1, 5000)
        price = rng.uniform(0.5, 999)
        region = rng.choice(["eu-west", "us-east", "ap-south"])
        rows.append(
            f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
            f"{region},{units},{price:.2f},{units * price:.2f}"
        )
    return "\n".join(rows)


def _identifiers(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(5, 30)):
        raw = rng.randbytes(rng.randint(8, 48))
        parts.append(
            rng.choice(
                [
                    raw.hex(),
                    base64.b64encode(raw).decode(),
                    str(uuid.UUID(bytes=rng.randbytes(16))),
                ]
            )
        )
    return "\n".join(parts)


def _script(rng: random.Random, lang: str) -> str:
    sentences = [rng.choice(SENTENCES[lang]) for _ in range(rng.randint(2, 40))]
    joiner = "" if lang in ("zh", "ja") else " "
    return joiner.join(sentences)


def generated(seed: int = SEED) -> list[Sample]:
    rng = random.Random(seed)
    samples: list[Sample] = []
    for i in range(12):
        samples.append(Sample(f"code-{i}", "code", _code(rng)))
    for i in range(12):
        doc = _json_doc(rng)
        indent = rng.choice([None, 2])
        samples.append(Sample(f"json-{i}", "json", json.dumps(doc, indent=indent)))
    for i in range(10):
        samples.append(Sample(f"numbers-{i}", "numbers", _numbers(rng)))
    for i in range(8):
        samples.append(Sample(f"ids-{i}", "identifiers", _identifiers(rng)))
    for lang in SENTENCES:
        kind = "cjk" if lang in ("zh", "ja", "ko") else "other-script"
        for i in range(6):
            samples.append(Sample(f"{lang}-{i}", kind, _script(rng, lang)))
    mixed = [
        ("short-0", "Hi"),
        ("short-1", "What is 2+2?"),
        ("short-2", "Translate 'good morning' into French, German and Japanese."),
        ("ws-0", "indent:\n" + "\n".join("    " * (i % 6) + "x" for i in range(200))),
        ("ws-1", "a" + " " * 500 + "b\n\n\n\n" + "\t" * 50 + "c"),
    ]
    samples += [Sample(sid, "short-or-whitespace", text) for sid, text in mixed]
    return samples


def _judgements(data: Path) -> list[dict[str, object]]:
    path = data / "mt_bench/judgements.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def real(data: Path = DEFAULT_DATA) -> list[Sample]:
    """RouteLLM prompts at fixed strides; empty when the data folder is absent."""
    if not (data / "mt_bench/judgements.jsonl").exists():
        return []
    samples: list[Sample] = []
    rows = _judgements(data)
    for i, judged in enumerate(rows[::8]):
        samples.append(Sample(f"mtbench-conv-{i}", "conversation-text", str(judged["user_prompt"])))
    for i, judged in enumerate(rows[3::16]):
        samples.append(Sample(f"mtbench-judgement-{i}", "prose", str(judged["judgment"])))
    with (data / "gsm8k/gsm8k_responses.csv").open(encoding="utf-8", newline="") as f:
        gsm = list(csv.reader(f))[1:]
    for i, row in enumerate(gsm[::40]):
        samples.append(Sample(f"gsm8k-{i}", "math", row[0] + "\n\n" + row[4]))
    subjects = sorted((data / "mmlu/responses").glob("*.csv"))[::6]
    for i, path in enumerate(subjects):
        with path.open(encoding="utf-8", newline="") as f:
            first = list(csv.reader(f))[1]
        samples.append(Sample(f"mmlu-{i}", "multiple-choice", first[0]))
    return samples


def corpus(data: Path = DEFAULT_DATA, seed: int = SEED) -> list[Sample]:
    return real(data) + generated(seed)


def conversations(data: Path = DEFAULT_DATA, seed: int = SEED) -> list[Conversation]:
    """Multi-turn chats: a system prompt then alternating turns, 4 to 60 messages."""
    rng = random.Random(seed + 1)
    texts = [s.text for s in corpus(data, seed)]
    chats: list[Conversation] = []
    for i, turns in enumerate([4, 8, 16, 30, 60]):
        messages: list[tuple[str, str]] = [("system", "You are a careful assistant.")]
        for t in range(turns - 1):
            role = "user" if t % 2 == 0 else "assistant"
            messages.append((role, rng.choice(texts)[: rng.randint(20, 3000)] or "ok"))
        chats.append(Conversation(f"chat-{i}", tuple(messages)))
    return chats


def long_prompt(target_bytes: int = 900_000, seed: int = SEED) -> str:
    """About ``target_bytes`` of the generated corpus, repeated in a seeded order."""
    rng = random.Random(seed + 2)
    pool = [s.text for s in generated(seed)]
    out: list[str] = []
    size = 0
    while size < target_bytes:
        piece = rng.choice(pool)
        out.append(piece)
        size += len(piece.encode()) + 2
    return "\n\n".join(out)


class RecordedSample(TypedDict):
    kind: str
    sha256: str
    text: dict[str, int]  # reference -> tokens of the bare text
    request: dict[str, int]  # reference -> tokens of a one-user-message request


class Recording(TypedDict):
    samples: dict[str, RecordedSample]
    conversations: dict[str, dict[str, int]]  # chat id -> reference -> tokens


def load_recording(path: Path = RECORDING) -> Recording:
    recording: Recording = json.loads(path.read_text(encoding="utf-8"))
    return recording


def checked(recording: Recording, data: Path = DEFAULT_DATA) -> list[tuple[Sample, RecordedSample]]:
    """The recorded samples that this machine's corpus reproduces byte for byte (the real
    part needs the shared data folder)."""
    by_id = {s.id: s for s in corpus(data)}
    return [
        (by_id[sid], entry)
        for sid, entry in recording["samples"].items()
        if sid in by_id and by_id[sid].sha256 == entry["sha256"]
    ]
