"""Cohere's Chat v2 wire format."""
