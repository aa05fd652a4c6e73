"""JSON-RPC error codes and the `/spec` document.

The codes below -32014 and their `exc_name`s are Bitcart's (daemons/spec/btc.json), so the `bitcart` SDK
raises the same exception classes against this daemon as against Bitcart's. Codes from -32015 down are
ours, for failures Bitcart's daemon never reported (it waited forever for sync, accepted any payload...).
The SDK turns any code present in `exceptions` into `exc_name(docstring)`, so every code we emit is listed.
"""

SPEC_VERSION = "4.3.4-django.1"

PARSE_ERROR = -32700
UNAUTHORIZED = -32600
PROCEDURE_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
WALLET_NOT_LOADED = -32000
INVALID_TX_HASH = -32001
TX_NOT_FOUND = -32002
REQUEST_NOT_FOUND = -32003
INVALID_ADDRESS = -32004
LOADING_WALLET = -32005
NOT_ENOUGH_FUNDS = -32006
LIGHTNING_UNSUPPORTED = -32011
NO_CONFIG_KEY = -32014
NOT_SYNCED = -32015
AMOUNT_TOO_PRECISE = -32016
PAYLOAD_TOO_LARGE = -32017
BATCH_NOT_SUPPORTED = -32018
WATCH_ONLY = -32019
NETWORK_ERROR = -32020
ADDRESS_CONFLICT = -32021

EXCEPTIONS: dict[int, tuple[str, str]] = {
    PARSE_ERROR: ("ParseError", "Request body is not valid JSON"),
    UNAUTHORIZED: ("UnauthorizedError", "Unauthorized"),
    PROCEDURE_NOT_FOUND: ("ProcedureNotFoundError", "Procedure not found"),
    INVALID_PARAMS: ("InvalidParamsError", "Invalid method parameters"),
    INTERNAL_ERROR: ("InternalError", "Internal daemon error"),
    WALLET_NOT_LOADED: (
        "WalletNotLoadedError",
        "Wallet not loaded. No xpub was provided and this function requires wallet",
    ),
    INVALID_TX_HASH: ("InvalidTxHashError", "Invalid tx hash provided"),
    TX_NOT_FOUND: ("TxNotFoundError", "No such mempool or blockchain transaction"),
    REQUEST_NOT_FOUND: ("RequestNotFoundError", "Payment request not found"),
    INVALID_ADDRESS: ("InvalidAddressError", "Invalid address or alias"),
    LOADING_WALLET: ("LoadingWalletError", "Error loading wallet: seed or key not recognized"),
    NOT_ENOUGH_FUNDS: ("NotEnoughFundsError", "Insufficient funds"),
    LIGHTNING_UNSUPPORTED: ("LightningUnsupportedError", "Lightning not supported in this wallet type"),
    NO_CONFIG_KEY: ("NoConfigKeyError", "No config key found"),
    NOT_SYNCED: ("NotSyncedError", "Daemon is not connected to / synchronized with the network yet; retry later"),
    AMOUNT_TOO_PRECISE: ("AmountTooPreciseError", "Amount has more than 8 decimal places"),
    PAYLOAD_TOO_LARGE: ("PayloadTooLargeError", "Request body is larger than 1 MB"),
    BATCH_NOT_SUPPORTED: ("BatchNotSupportedError", "JSON-RPC batch requests are not supported; send one call"),
    WATCH_ONLY: ("WatchOnlyWalletError", "Wallets here are watch-only (xpub): this daemon cannot sign or spend"),
    NETWORK_ERROR: ("NetworkError", "The Electrum server did not answer in time or returned an error"),
    ADDRESS_CONFLICT: (
        "AddressConflictError",
        "Address or derivation index is already bound to another wallet or request",
    ),
}

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


class RPCError(Exception):
    """A failure the caller should see as a JSON-RPC error with a spec code."""

    def __init__(self, code: int, message: str | None = None):
        self.code = code
        self.message = message or EXCEPTIONS[code][1]
        super().__init__(self.message)


def build_spec(*, lightning: bool = False) -> dict:
    return {
        "version": SPEC_VERSION,
        "electrum_map": dict(ELECTRUM_MAP),
        "exceptions": {str(code): {"exc_name": name, "docstring": doc} for code, (name, doc) in EXCEPTIONS.items()},
        "capabilities": {"lightning": lightning},
    }
