"""The client side of the XKS proxy API: how Trent reaches an external key store's proxy (port.py, http_client.py)."""
