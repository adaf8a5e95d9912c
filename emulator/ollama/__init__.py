"""Ollama's native chat API as the emulator serves it."""
