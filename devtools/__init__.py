"""Development tooling: the dev Kafka broker, the local stack, the demo and the chaos run.

Used from a source checkout by tests, benchmarks and ``python -m devtools``; not part of
the installed package, and nothing a production worker imports depends on it.
"""
