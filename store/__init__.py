"""The analytics store: the usage table in ClickHouse, server or embedded engine."""

from store.backends import StoreBackend, StoreUnavailable, open_backend
from store.usage import UsageStore

__all__ = ["StoreBackend", "StoreUnavailable", "UsageStore", "open_backend"]
