"""Google Gemini's generateContent wire format."""
