"""Pydantic v2 models for every event on every topic and for the config file."""
