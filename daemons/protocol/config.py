"""Environment helpers every coin daemon's settings use (`<COIN>_*` variables, Bitcart's naming)."""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PASSWORD_FILE = "password"


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class DaemonSettings:
    """What every coin daemon's settings have; a coin's Settings adds its own fields."""

    host: str
    port: int
    login: str
    password: str
    data_path: Path
    debug: bool
    polling_cap: int  # events kept per wallet for get_updates
    ready_file: Path | None  # written with {"port": ...} once listening; lets tests bind port 0 race-free

    @property
    def db_path(self) -> Path:
        return self.data_path / "daemon.sqlite3"


def daemon_settings(env: Mapping[str, str], prefix: str, *, default_port: int) -> dict[str, Any]:
    """The DaemonSettings fields from `<PREFIX>_HOST`, `_PORT`, `_LOGIN`, `_PASSWORD`, `_DATA_PATH`, `_DEBUG`,
    `_POLLING_CAP`, `_READY_FILE`; creates the data dir (and the password file if needed)."""
    try:
        port = int(env.get(f"{prefix}_PORT", str(default_port)))
        polling_cap = int(env.get(f"{prefix}_POLLING_CAP", "100"))
    except ValueError as exc:
        raise ConfigError(f"numeric setting is not a number: {exc}") from None
    check_port(port, prefix)
    data = data_path(env, prefix)
    return {
        "host": env.get(f"{prefix}_HOST", "127.0.0.1"),
        "port": port,
        "login": env.get(f"{prefix}_LOGIN", "electrum"),
        "password": password(data, env.get(f"{prefix}_PASSWORD")),
        "data_path": data,
        "debug": env_bool(env.get(f"{prefix}_DEBUG"), False),
        "polling_cap": max(polling_cap, 0),
        "ready_file": ready_file(env, prefix),
    }


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
