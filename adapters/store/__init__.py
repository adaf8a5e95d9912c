"""The analytics store: the usage table in ClickHouse, server or embedded engine."""

from adapters.store.backends import StoreBackend, StoreUnavailable, open_backend
from adapters.store.usage import UsageStore

__all__ = ["StoreBackend", "StoreUnavailable", "UsageStore", "open_backend"]
