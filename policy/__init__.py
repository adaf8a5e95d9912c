"""Pure routing policy: classify, route, retry, price. No I/O, importable without Kafka."""
