"""The analytics process's HTTP side: the query API (api.py) and its server (server.py)."""
