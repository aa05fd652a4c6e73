"""Daemon settings from the environment, named like Bitcart's (`BTC_*`)."""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

NETWORKS = ("mainnet", "testnet", "regtest")
PASSWORD_FILE = "password"


class ConfigError(Exception):
    pass


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    network: str
    server: str
    oneserver: bool
    host: str
    port: int
    login: str
    password: str
    data_path: Path
    debug: bool
    watch_window: int  # seconds an SDK request's address stays watched after it expires
    polling_cap: int  # events kept per wallet for get_updates
    sweep_interval: float  # seconds between expiry sweeps (watched `until`, request expiry)
    ready_file: Path | None  # written with {"port": ...} once listening; lets tests bind port 0 race-free

    @property
    def electrum_path(self) -> Path:
        return self.data_path / "electrum"

    @property
    def db_path(self) -> Path:
        return self.data_path / "daemon.sqlite3"


def _password(data_path: Path, given: str | None) -> str:
    """BTC_PASSWORD, else the one in DATA_PATH/password, else a new one written there (mode 0600).

    The Django side reads the same file when it is not given BTC_PASSWORD either, so a fresh install has a
    random secret without anyone choosing one.
    """
    if given:
        return given
    path = data_path / PASSWORD_FILE
    if path.exists():
        stored = path.read_text().strip()
        if stored:
            return stored
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    network = env.get("BTC_NETWORK", "mainnet").strip().lower()
    if network not in NETWORKS:
        raise ConfigError(f"BTC_NETWORK must be one of {', '.join(NETWORKS)}, not {network!r}")
    data_path = Path(env.get("BTC_DATA_PATH") or Path.cwd() / "data" / "daemon-btc").expanduser().resolve()
    data_path.mkdir(parents=True, exist_ok=True)
    try:
        port = int(env.get("BTC_PORT", "5000"))
        watch_window = int(env.get("BTC_WATCH_WINDOW", str(24 * 3600)))
        polling_cap = int(env.get("BTC_POLLING_CAP", "100"))
        sweep_interval = float(env.get("BTC_SWEEP_INTERVAL", "15"))
    except ValueError as exc:
        raise ConfigError(f"numeric setting is not a number: {exc}") from None
    if not 0 <= port < 65536:  # 0: any free port, reported through BTC_READY_FILE (tests)
        raise ConfigError(f"BTC_PORT out of range: {port}")
    return Settings(
        network=network,
        server=env.get("BTC_SERVER", "").strip(),
        oneserver=_bool(env.get("BTC_ONESERVER"), False),
        host=env.get("BTC_HOST", "127.0.0.1"),
        port=port,
        login=env.get("BTC_LOGIN", "electrum"),
        password=_password(data_path, env.get("BTC_PASSWORD")),
        data_path=data_path,
        debug=_bool(env.get("BTC_DEBUG"), False),
        watch_window=max(watch_window, 0),
        polling_cap=max(polling_cap, 0),
        sweep_interval=min(max(sweep_interval, 0.1), 3600),
        ready_file=Path(env["BTC_READY_FILE"]) if env.get("BTC_READY_FILE") else None,
    )
