"""Anthropic's Messages wire format."""
