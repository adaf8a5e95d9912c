"""routeyard: an LLM gateway built as a Kafka stream pipeline."""
