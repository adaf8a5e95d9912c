"""The OpenAI-compatible HTTP front door: wire translation, server and relay."""
