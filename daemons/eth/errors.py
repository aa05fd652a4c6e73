"""The ETH daemon's JSON-RPC error codes and `/spec` (the common ones, as daemons/btc's, are in
daemons/protocol/errors.py). -32022 and below are ETH-only.
"""

from daemons.protocol import errors as protocol
from daemons.protocol.errors import AMOUNT_TOO_PRECISE, INVALID_ADDRESS, NETWORK_ERROR, WATCH_ONLY

SPEC_VERSION = "eth-django.1"

UNKNOWN_TOKEN = -32022
TAGS_EXHAUSTED = -32023

EXCEPTIONS = protocol.exception_table(
    {
        INVALID_ADDRESS: ("InvalidAddressError", "Invalid address (not 20 bytes of hex, or a wrong EIP-55 checksum)"),
        AMOUNT_TOO_PRECISE: ("AmountTooPreciseError", "Amount has more decimal places than the coin or token has"),
        WATCH_ONLY: (
            "WatchOnlyWalletError",
            "Wallets here are watch-only (an address): this daemon cannot sign or spend",
        ),
        NETWORK_ERROR: ("NetworkError", "The Ethereum node did not answer in time or returned an error"),
        UNKNOWN_TOKEN: ("UnknownTokenError", "Token contract is not in this daemon's registry for its chain"),
        TAGS_EXHAUSTED: (
            "TagsExhaustedError",
            "Every payment tag of this wallet and asset is held by an open request; wait for some to expire",
        ),
    }
)


class RPCError(protocol.RPCError):
    exceptions = EXCEPTIONS


def build_spec() -> dict:
    return protocol.build_spec(
        version=SPEC_VERSION,
        exceptions=EXCEPTIONS,
        electrum_map={},
        capabilities={"lightning": False, "tokens": True},
    )
