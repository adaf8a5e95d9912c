"""Provider adapters: one async ``complete`` call per wire format, typed errors out.

``adapters.base`` holds the interface, ``adapters.registry.build_adapter`` picks an
adapter for a provider config, ``adapters.http_client.make_http_client`` builds the
shared HTTP client, and ``adapters.errors`` is what the retry policy acts on.
"""
