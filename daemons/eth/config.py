"""Daemon settings from the environment, named like Bitcart's and like daemons/btc's (`ETH_*`); the ones every
daemon has are daemons/protocol/config.py's."""

import os
from dataclasses import dataclass

from coins import evm
from daemons.eth.tokens import Token, TokenRegistry
from daemons.protocol.config import ConfigError, DaemonSettings, daemon_settings

# Chain ids of the networks we know; anything else needs ETH_CHAIN_ID (a local node, a testnet not listed).
CHAIN_IDS = evm.CHAIN_IDS


@dataclass(frozen=True)
class Settings(DaemonSettings):
    server: str  # the Ethereum JSON-RPC URL (http:// or https://)
    network: str
    chain_id: int
    tokens: TokenRegistry
    watch_window: int  # seconds a request stays matchable after it expires (late payments)
    poll_interval: float  # seconds between looks at the chain tip
    rpc_timeout: float  # seconds any one call to the Ethereum node may take
    max_block_range: int  # blocks per scan step (one eth_getLogs range)
    reorg_depth: int  # block hashes kept to find a fork point
    tag_digits: int  # decimal digits of the payment tag (10**digits - 1 requests open per wallet and asset)
    start_block: int | None  # first block scanned on a fresh data dir (default: the tip at first start)


def _tokens(raw: str | None, chain_id: int) -> TokenRegistry:
    """The built-in tokens of the chain, plus/overridden by ETH_TOKENS = {"SYMBOL": {"contract", "decimals"}}."""
    try:
        tokens = evm.parse_tokens(raw or "", chain_id)
    except ValueError as exc:
        raise ConfigError(f"ETH_TOKENS {exc}") from None
    return TokenRegistry(Token(symbol, contract, places) for symbol, (contract, places) in tokens.items())


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    network = env.get("ETH_NETWORK", "mainnet").strip().lower()
    server = env.get("ETH_SERVER", "").strip()
    if not server.startswith(("http://", "https://")):
        raise ConfigError("ETH_SERVER must be the http(s) URL of an Ethereum JSON-RPC endpoint")
    try:
        chain_id = int(env["ETH_CHAIN_ID"]) if env.get("ETH_CHAIN_ID") else CHAIN_IDS.get(network, 0)
        watch_window = int(env.get("ETH_WATCH_WINDOW", str(24 * 3600)))
        poll_interval = float(env.get("ETH_POLL_INTERVAL", "4"))
        rpc_timeout = float(env.get("ETH_RPC_TIMEOUT", "10"))
        max_block_range = int(env.get("ETH_MAX_BLOCK_RANGE", "500"))
        reorg_depth = int(env.get("ETH_REORG_DEPTH", "128"))
        tag_digits = int(env.get("ETH_TAG_DIGITS", "4"))
        start_block = int(env["ETH_START_BLOCK"]) if env.get("ETH_START_BLOCK") else None
    except ValueError as exc:
        raise ConfigError(f"numeric setting is not a number: {exc}") from None
    if chain_id <= 0:
        raise ConfigError(f"ETH_CHAIN_ID is required for network {network!r}")
    if not 1 <= tag_digits <= 6:
        raise ConfigError("ETH_TAG_DIGITS must be in [1, 6]")
    return Settings(
        **daemon_settings(env, "ETH", default_port=5002),
        server=server,
        network=network,
        chain_id=chain_id,
        tokens=_tokens(env.get("ETH_TOKENS"), chain_id),
        watch_window=max(watch_window, 0),
        poll_interval=min(max(poll_interval, 0.05), 600),
        rpc_timeout=min(max(rpc_timeout, 0.1), 120),
        max_block_range=min(max(max_block_range, 1), 10_000),
        reorg_depth=min(max(reorg_depth, 2), 10_000),
        tag_digits=tag_digits,
        start_block=start_block,
    )
