"""Ethereum-family facts shared by Django (coins.registry) and the ETH daemon (daemons/eth): the chain ids of
the networks we know, the official token contracts on them, address checks and EIP-681 payment URIs.
No Django here, so both sides import it."""

import json

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

# Chain ids of the networks we know; anything else needs <COIN>_CHAIN_ID (a local node, a testnet not listed).
CHAIN_IDS = {"mainnet": 1, "sepolia": 11155111, "holesky": 17000}

# Contracts per chain id: symbol → (contract, decimals). Only official deployments; anything else comes from
# ETH_TOKENS.
DEFAULT_TOKENS: dict[int, dict[str, tuple[str, int]]] = {
    1: {
        "USDT": ("0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
        "USDC": ("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6),
    },
    11155111: {
        "USDC": ("0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238", 6),
    },
}

# Block explorers' transaction pages per chain id ("" where there is none: a local node).
EXPLORERS = {
    1: "https://etherscan.io/tx/{txid}",
    11155111: "https://sepolia.etherscan.io/tx/{txid}",
    17000: "https://holesky.etherscan.io/tx/{txid}",
}


class AddressError(ValueError):
    pass


def parse_tokens(raw: str, chain_id: int) -> dict[str, tuple[str, int]]:
    """The chain's built-in tokens plus/overridden by `raw` (ETH_TOKENS: JSON {"SYMBOL": {"contract", "decimals"}}):
    symbol → (checksummed contract, decimals). ValueError saying what is wrong. Django's registry and the daemon
    read the same variable through this, so they agree on the tokens."""
    tokens = {
        symbol: (checksum_address(contract), places)
        for symbol, (contract, places) in DEFAULT_TOKENS.get(chain_id, {}).items()
    }
    if not raw:
        return tokens
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("must be an object {SYMBOL: {contract, decimals}}")
    for symbol, spec in data.items():
        if not (isinstance(symbol, str) and symbol.isalnum() and len(symbol) <= 10):
            raise ValueError(f"{symbol!r} is not a symbol (1-10 letters/digits)")
        places = spec.get("decimals") if isinstance(spec, dict) else None
        if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 30:
            raise ValueError(f"[{symbol!r}]: decimals must be an integer in 0..30")
        try:
            contract = checksum_address(spec.get("contract") if isinstance(spec, dict) else None)
        except AddressError as exc:
            raise ValueError(f"[{symbol!r}]: contract: {exc}") from None
        tokens[symbol.upper()] = (contract, places)
    return tokens


def checksum_address(value: object) -> str:
    """The EIP-55 checksummed form of an address. All-lower/all-upper hex carries no checksum and is accepted;
    mixed case must match its checksum (a typo in a mixed-case address is caught here)."""
    if not isinstance(value, str) or not is_hex_address(value.strip()):
        raise AddressError(f"Not an Ethereum address: {str(value)[:60]!r}")
    value = value.strip()
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise AddressError(f"The address has a wrong EIP-55 checksum: {value}")
    return to_checksum_address(value)


def eip681_uri(*, address: str, units: int, chain_id: int, contract: str = "") -> str:
    """EIP-681: `ethereum:<to>@<chain>?value=<wei>` for ether, and for an ERC-20 token the `transfer` call
    `ethereum:<contract>@<chain>/transfer?address=<to>&uint256=<units>` (what wallets pay from a QR)."""
    chain = f"@{chain_id}" if chain_id else ""
    if contract:
        return f"ethereum:{contract}{chain}/transfer?address={address}&uint256={units}"
    return f"ethereum:{address}{chain}?value={units}"


# Payment tags (daemons/eth/README.md): a request's tag sits in the amount's digits just above `tag_unit`. The
# lowest tag digit is at most at 10^-8 ETH and 10^-6 of a token: exchanges send ETH with 8 decimals and
# stablecoins with up to 6, so a tag below that would be rounded away by the buyer's exchange.
NATIVE_TAG_DECIMALS = 8
TOKEN_TAG_DECIMALS = 6
DEFAULT_TAG_DIGITS = 4


def tag_unit(decimals: int, *, is_token: bool) -> int:
    places = TOKEN_TAG_DECIMALS if is_token else NATIVE_TAG_DECIMALS
    return 10 ** max(decimals - min(places, decimals), 0)


def tag_of(units: int, unit: int, digits: int) -> int:
    return (units // unit) % 10**digits


def with_tag(minimum: int, tag: int, unit: int, digits: int) -> int:
    """The smallest amount >= `minimum`, a whole number of tag units, whose tag is `tag`: every amount a buyer
    is asked to send (a new request's price, what is left after a partial payment) carries the request's tag.
    Adds less than 10**digits tag units to `minimum`."""
    space = 10**digits
    base = -(-minimum // unit)  # ceil, in tag units
    step = (tag - base % space) % space
    return (base + step) * unit
