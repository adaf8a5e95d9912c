"""Anthropic Messages as the emulator serves it."""
