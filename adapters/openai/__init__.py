"""OpenAI's Chat Completions wire format, spoken by OpenAI and the compatible services
listed as presets."""
