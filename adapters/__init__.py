"""Provider adapters: one async ``complete`` call per wire format, typed errors out.

Each wire format is a subpackage (``openai``, ``anthropic``, ``gemini``, ``cohere``,
``bedrock``, ``ollama``) with the same files: ``adapter.py`` (the
:class:`adapters.base.ChatAdapter`), ``payload.py`` (the request body), ``reply.py``
(reading an answer) and ``errors.py`` (error replies to :mod:`adapters.errors`), plus
what only that vendor needs (``openai/presets.py``, ``bedrock/sigv4.py``).
``adapters.registry.ADAPTERS`` maps a format to its adapter class, all built alike;
``adapters.http_client.make_http_client`` builds the shared HTTP client, and
``adapters.errors`` is what the retry policy acts on (each error's ``action``).

Only provider wire formats live here: the usage store is :mod:`store`, and the model
client that joins config, adapters and pricing is :mod:`streams.model_client`. Adapters
import nothing first-party but :mod:`schemas` (``tests/test_layers.py``).
"""
