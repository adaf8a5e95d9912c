"""Sample request texts of mixed complexity, shared by the integration tests and the demo."""

from __future__ import annotations

import random

SIMPLE = [
    "hi, what's a good name for a cat?",
    "Translate 'good morning' to French.",
    "What is the capital of Portugal?",
]
CODE = [
    "Fix this python:\n```\ndef mean(xs):\n    return sum(xs) / len(xs\n```",
    "Write a SQL query: SELECT the top 5 customers by revenue per month.",
]
HARD = [
    "Prove step by step that the sum of the first n odd numbers is n^2, then compare two"
    " proof strategies and explain why induction is the natural one. Analyze the trade-offs.",
    "Design a plan to migrate a monolith to services. First, list risks; then, evaluate"
    " three options and justify the choice. Compare costs and explain why. " * 4,
]
SUMMARY = ["Summarize the key points of this memo: " + "the quarterly numbers were fine. " * 20]


def sample_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    pools = [SIMPLE, CODE, HARD, SUMMARY]
    weights = [0.45, 0.2, 0.2, 0.15]
    return [rng.choice(rng.choices(pools, weights)[0]) for _ in range(n)]
