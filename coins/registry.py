"""The coins this server takes, from its configuration: the one place that knows what "BTC" or "USDT" is.

Configured as Bitcart does it: `BITCART_CRYPTOS=btc,eth` enables chains, each with its daemon
(`<KEY>_DAEMON_URL`, `<KEY>_LOGIN`, `<KEY>_PASSWORD`), `<KEY>_NETWORK`, and for Ethereum-family chains
`<KEY>_CHAIN_ID` and `<KEY>_TOKENS` (ERC-20 tokens beside the built-in ones of the chain). A chain is one daemon
and one listener; its coins are its native coin and its tokens, each a payment method of its own.

Everything else asks here: decimals, URI scheme, explorer links, rate symbols, default confirmations, which
networks a wallet may be on. Amounts are integers of the coin's smallest unit everywhere inside.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from coins import evm

# Pseudo-currency for prices: satoshis (an invoice priced in SATS asks that many satoshis).
SATS = "SATS"


class Family(StrEnum):
    BITCOIN = "bitcoin"  # UTXO chains: an address per invoice, derived by Django from the wallet's xpub
    ETHEREUM = "ethereum"  # account chains: the merchant's one address; the daemon tells invoices apart


@dataclass(frozen=True)
class Coin:
    """Something a buyer can pay with: a chain's native coin or one of its tokens."""

    symbol: str  # "BTC", "ETH", "USDT": also the payment method's currency and the rate symbol
    name: str
    decimals: int  # of the smallest unit: amounts are ints of 10^-decimals
    chain: str  # the key of the Chain whose daemon watches it
    contract: str = ""  # the ERC-20 contract ("" for a native coin)

    @property
    def is_token(self) -> bool:
        return bool(self.contract)


@dataclass(frozen=True)
class Chain:
    """One daemon, one listener, one kind of wallet."""

    key: str  # "btc", "eth": as in BITCART_CRYPTOS and the <KEY>_* settings
    family: Family
    network: str
    networks: tuple[str, ...]  # networks a wallet of this chain may be on
    chain_id: int  # EIP-155 chain id; 0 for bitcoin-family chains
    daemon_url: str
    login: str
    password: str  # "" = read the password file the daemon generates in its data directory
    password_file: Path
    confirmations: int  # default required confirmations for invoices paid on this chain
    explorer_tx: str  # transaction page, "{txid}" replaced; "" when there is none (regtest, a local node)
    coins: tuple[Coin, ...] = field(default=())  # the native coin first, then the tokens
    tag_digits: int = 0  # Ethereum-family: digits of the payment tags in amounts (as the daemon's)

    @property
    def symbol(self) -> str:
        """The native coin's symbol, which is also its wallets' currency."""
        return self.key.upper()

    @property
    def native(self) -> Coin:
        return self.coins[0]

    def daemon_password(self) -> str:
        if self.password:
            return self.password
        try:
            return self.password_file.read_text().strip()
        except OSError:
            return ""

    def explorer_link(self, txid: str) -> str:
        return self.explorer_tx.format(txid=txid) if self.explorer_tx and txid else ""


@dataclass(frozen=True)
class Registry:
    chains: dict[str, Chain]  # by key
    coins: dict[str, Coin]  # by symbol


BITCOIN_EXPLORERS = {"mainnet": "https://mempool.space/tx/{txid}", "testnet": "https://mempool.space/testnet/tx/{txid}"}
NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether USD", "USDC": "USD Coin"}


def _bitcoin(key: str, conf: dict) -> Chain:
    network = conf["network"]
    if network not in ("mainnet", "testnet", "regtest"):
        raise ImproperlyConfigured(f"{key.upper()}_NETWORK must be mainnet, testnet or regtest, not {network!r}")
    symbol = key.upper()
    return Chain(
        key=key,
        family=Family.BITCOIN,
        network=network,
        networks=("mainnet", "testnet", "regtest"),
        chain_id=0,
        daemon_url=conf["daemon_url"],
        login=conf["login"],
        password=conf["password"],
        password_file=Path(settings.DATA_DIR) / f"daemon-{key}" / "password",
        confirmations=conf.get("confirmations", 1),
        explorer_tx=conf.get("explorer") or BITCOIN_EXPLORERS.get(network, ""),
        coins=(Coin(symbol, NAMES.get(symbol, symbol), 8, key),),
    )


def _tokens(key: str, chain_id: int, raw: str) -> list[Coin]:
    try:
        tokens = evm.parse_tokens(raw, chain_id)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{key.upper()}_TOKENS {exc}") from None
    return [
        Coin(symbol, NAMES.get(symbol, symbol), places, key, contract)
        for symbol, (contract, places) in sorted(tokens.items())
    ]


def _ethereum(key: str, conf: dict) -> Chain:
    network = conf["network"]
    chain_id = conf.get("chain_id") or evm.CHAIN_IDS.get(network, 0)
    if chain_id <= 0:
        raise ImproperlyConfigured(f"{key.upper()}_CHAIN_ID is required for network {network!r}")
    symbol = key.upper()
    return Chain(
        key=key,
        family=Family.ETHEREUM,
        network=network,
        networks=(network,),
        chain_id=chain_id,
        daemon_url=conf["daemon_url"],
        login=conf["login"],
        password=conf["password"],
        password_file=Path(settings.DATA_DIR) / f"daemon-{key}" / "password",
        confirmations=conf.get("confirmations", 2),
        explorer_tx=conf.get("explorer") or evm.EXPLORERS.get(chain_id, ""),
        coins=(Coin(symbol, NAMES.get(symbol, symbol), 18, key), *_tokens(key, chain_id, conf.get("tokens", ""))),
        tag_digits=conf.get("tag_digits", evm.DEFAULT_TAG_DIGITS),
    )


FAMILIES = {"btc": _bitcoin, "eth": _ethereum}


@cache
def registry() -> Registry:
    chains: dict[str, Chain] = {}
    for key in settings.BITCART_CRYPTOS:
        if key not in FAMILIES:
            known = ", ".join(sorted(FAMILIES))
            raise ImproperlyConfigured(f"BITCART_CRYPTOS: {key!r} is not a coin this server supports ({known})")
        chains[key] = FAMILIES[key](key, settings.COINS[key])
    coins: dict[str, Coin] = {}
    for chain in chains.values():
        for coin in chain.coins:
            if coin.symbol in coins:
                raise ImproperlyConfigured(f"Two coins are named {coin.symbol}: symbols must be unique")
            coins[coin.symbol] = coin
    return Registry(chains, coins)


def _reset(*, setting: str, **_kwargs: object) -> None:
    if setting in ("BITCART_CRYPTOS", "COINS", "DATA_DIR"):
        registry.cache_clear()


setting_changed.connect(_reset)


def chains() -> list[Chain]:
    return list(registry().chains.values())


def coins() -> list[Coin]:
    return list(registry().coins.values())


def chain(key: str) -> Chain:
    """A chain by key ("btc") or by its wallets' currency ("BTC"); KeyError if it is not enabled."""
    return registry().chains[key.lower()]


def coin(symbol: str) -> Coin:
    """KeyError if no enabled chain has this coin."""
    return registry().coins[symbol.upper()]


def chain_of(symbol: str) -> Chain:
    """The chain a coin (by symbol) is paid on."""
    return chain(coin(symbol).chain)


def is_coin(code: str) -> bool:
    return (code or "").upper() in registry().coins


def coin_decimals(code: str) -> int | None:
    """Decimal places of a coin, or of SATS (0); None if `code` is not a coin here."""
    code = (code or "").upper()
    if code == SATS:
        return 0
    found = registry().coins.get(code)
    return found.decimals if found else None


def payment_tag(symbol: str) -> tuple[int, int] | None:
    """(tag unit, digits) of the payment tags an Ethereum-family coin's amounts carry (daemons/eth/README.md);
    None for a coin without (bitcoin-family, or no longer enabled)."""
    found = registry().coins.get(symbol.upper())
    if found is None:
        return None
    owner = registry().chains[found.chain]
    if owner.family != Family.ETHEREUM:
        return None
    return evm.tag_unit(found.decimals, is_token=found.is_token), owner.tag_digits
