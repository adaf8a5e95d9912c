"""OpenAI Chat Completions as the emulator serves it, with the Azure and Perplexity dialects."""
