"""Environment helpers every coin daemon's settings use (`<COIN>_*` variables, Bitcart's naming)."""

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

PASSWORD_FILE = "password"


class ConfigError(Exception):
    pass


def env_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def data_path(env: Mapping[str, str], prefix: str) -> Path:
    """`<PREFIX>_DATA_PATH`, default ./data/daemon-<prefix>; created if missing."""
    path = Path(env.get(f"{prefix}_DATA_PATH") or Path.cwd() / "data" / f"daemon-{prefix.lower()}")
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def ready_file(env: Mapping[str, str], prefix: str) -> Path | None:
    """`<PREFIX>_READY_FILE`: written with {"port", "pid"} once listening; lets tests bind port 0 race-free."""
    value = env.get(f"{prefix}_READY_FILE")
    return Path(value) if value else None


def check_port(port: int, prefix: str) -> int:
    if not 0 <= port < 65536:  # 0: any free port, reported through the ready file (tests)
        raise ConfigError(f"{prefix}_PORT out of range: {port}")
    return port


def password(data_path: Path, given: str | None) -> str:
    """The given password, else the one in DATA_PATH/password, else a new one written there (mode 0600).

    The Django side reads the same file when it is not given the password either, so a fresh install has a
    random secret without anyone choosing one.
    """
    if given:
        return given
    path = data_path / PASSWORD_FILE
    if path.exists():
        stored = path.read_text().strip()
        if stored:
            return stored
    secret = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret
