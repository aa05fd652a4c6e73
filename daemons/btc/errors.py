"""The BTC daemon's JSON-RPC error codes and `/spec` (the common ones are in daemons/protocol/errors.py).

-32005..-32011 are Bitcart's; -32021 is ours.
"""

from daemons.protocol import errors as protocol
from daemons.protocol.errors import (
    AMOUNT_TOO_PRECISE,
    INVALID_ADDRESS,
    INVALID_TX_HASH,
    NETWORK_ERROR,
    PROCEDURE_NOT_FOUND,
    REQUEST_NOT_FOUND,
    TX_NOT_FOUND,
    WALLET_NOT_LOADED,
    WATCH_ONLY,
)

SPEC_VERSION = "4.3.4-django.1"

LOADING_WALLET = -32005
NOT_ENOUGH_FUNDS = -32006
LIGHTNING_UNSUPPORTED = -32011
ADDRESS_CONFLICT = -32021

EXCEPTIONS = protocol.exception_table(
    {
        INVALID_ADDRESS: ("InvalidAddressError", "Invalid address or alias"),
        LOADING_WALLET: ("LoadingWalletError", "Error loading wallet: seed or key not recognized"),
        NOT_ENOUGH_FUNDS: ("NotEnoughFundsError", "Insufficient funds"),
        LIGHTNING_UNSUPPORTED: ("LightningUnsupportedError", "Lightning not supported in this wallet type"),
        AMOUNT_TOO_PRECISE: ("AmountTooPreciseError", "Amount has more than 8 decimal places"),
        WATCH_ONLY: ("WatchOnlyWalletError", "Wallets here are watch-only (xpub): this daemon cannot sign or spend"),
        NETWORK_ERROR: ("NetworkError", "The Electrum server did not answer in time or returned an error"),
        ADDRESS_CONFLICT: (
            "AddressConflictError",
            "Address or derivation index is already bound to another wallet or request",
        ),
    }
)

# Bitcart's daemon maps Electrum error messages to codes with this table; kept so that clients reading the
# spec for it find the same content.
ELECTRUM_MAP = {
    "Procedure not found": PROCEDURE_NOT_FOUND,
    "wallet not loaded": WALLET_NOT_LOADED,
    "should be a transaction hash": INVALID_TX_HASH,
    "No such mempool or blockchain transaction.": TX_NOT_FOUND,
    "Request not found": REQUEST_NOT_FOUND,
    "Invalid Bitcoin address or alias": INVALID_ADDRESS,
    "Insufficient funds": NOT_ENOUGH_FUNDS,
}


class RPCError(protocol.RPCError):
    exceptions = EXCEPTIONS


def build_spec(*, lightning: bool = False) -> dict:
    return protocol.build_spec(
        version=SPEC_VERSION, exceptions=EXCEPTIONS, electrum_map=ELECTRUM_MAP, capabilities={"lightning": lightning}
    )
