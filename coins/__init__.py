"""Coin primitives shared by the Django apps and the daemons (stdlib only: the daemons run under
Debian's python3 without the venv)."""
