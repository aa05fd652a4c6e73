"""The chain fixtures (chain, sim, daemon_client, listener) live in tests/conftest.py."""
