"""Google Gemini generateContent as the emulator serves it."""
