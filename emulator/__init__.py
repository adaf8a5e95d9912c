"""A provider emulator: OpenAI and Anthropic wire formats with injected faults.

It answers deterministically from the request so tests and load runs can assert on
content, and injects latency and errors from a seeded profile so runs repeat.
"""
