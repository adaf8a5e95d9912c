"""The development Kafka broker: real Apache Kafka jars on a JVM, fetched by Maven.

``broker`` runs a throw-away broker (tests, the demo, the chaos run); ``daemon`` keeps a
detached one across commands (``python -m devtools kafka start|stop``).
"""

from devtools.kafka.broker import DevKafka, DevKafkaError, ensure_jars

__all__ = ["DevKafka", "DevKafkaError", "ensure_jars"]
