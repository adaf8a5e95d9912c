"""Ollama's native chat wire format."""
