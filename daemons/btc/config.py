"""Daemon settings from the environment, named like Bitcart's (`BTC_*`); the ones every daemon has are
daemons/protocol/config.py's."""

import os
from dataclasses import dataclass
from pathlib import Path

from daemons.protocol.config import ConfigError, DaemonSettings, daemon_settings, env_bool

NETWORKS = ("mainnet", "testnet", "regtest")


@dataclass(frozen=True)
class Settings(DaemonSettings):
    network: str
    server: str
    oneserver: bool
    watch_window: int  # seconds an SDK request's address stays watched after it expires
    sweep_interval: float  # seconds between expiry sweeps (watched `until`, request expiry)

    @property
    def electrum_path(self) -> Path:
        return self.data_path / "electrum"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    network = env.get("BTC_NETWORK", "mainnet").strip().lower()
    if network not in NETWORKS:
        raise ConfigError(f"BTC_NETWORK must be one of {', '.join(NETWORKS)}, not {network!r}")
    try:
        watch_window = int(env.get("BTC_WATCH_WINDOW", str(24 * 3600)))
        sweep_interval = float(env.get("BTC_SWEEP_INTERVAL", "15"))
    except ValueError as exc:
        raise ConfigError(f"numeric setting is not a number: {exc}") from None
    return Settings(
        **daemon_settings(env, "BTC", default_port=5000),
        network=network,
        server=env.get("BTC_SERVER", "").strip(),
        oneserver=env_bool(env.get("BTC_ONESERVER"), False),
        watch_window=max(watch_window, 0),
        sweep_interval=min(max(sweep_interval, 0.1), 3600),
    )
