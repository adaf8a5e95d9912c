"""Cohere Chat v2 as the emulator serves it."""
