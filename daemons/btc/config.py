"""Daemon settings from the environment, named like Bitcart's (`BTC_*`)."""

import os
from dataclasses import dataclass
from pathlib import Path

from daemons.protocol.config import ConfigError, check_port, data_path, env_bool, password, ready_file

NETWORKS = ("mainnet", "testnet", "regtest")


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


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    network = env.get("BTC_NETWORK", "mainnet").strip().lower()
    if network not in NETWORKS:
        raise ConfigError(f"BTC_NETWORK must be one of {', '.join(NETWORKS)}, not {network!r}")
    data = data_path(env, "BTC")
    try:
        port = int(env.get("BTC_PORT", "5000"))
        watch_window = int(env.get("BTC_WATCH_WINDOW", str(24 * 3600)))
        polling_cap = int(env.get("BTC_POLLING_CAP", "100"))
        sweep_interval = float(env.get("BTC_SWEEP_INTERVAL", "15"))
    except ValueError as exc:
        raise ConfigError(f"numeric setting is not a number: {exc}") from None
    check_port(port, "BTC")
    return Settings(
        network=network,
        server=env.get("BTC_SERVER", "").strip(),
        oneserver=env_bool(env.get("BTC_ONESERVER"), False),
        host=env.get("BTC_HOST", "127.0.0.1"),
        port=port,
        login=env.get("BTC_LOGIN", "electrum"),
        password=password(data, env.get("BTC_PASSWORD")),
        data_path=data,
        debug=env_bool(env.get("BTC_DEBUG"), False),
        watch_window=max(watch_window, 0),
        polling_cap=max(polling_cap, 0),
        sweep_interval=min(max(sweep_interval, 0.1), 3600),
        ready_file=ready_file(env, "BTC"),
    )
