"""JSON-RPC error codes and the `/spec` document.

The same codes and exception names as daemons/btc (Bitcart's spec for -32700..-32014, ours below), so the
`bitcart` SDK raises the same exception classes against either daemon. -32022 and below are ETH-only.
"""

SPEC_VERSION = "eth-django.1"

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
NO_CONFIG_KEY = -32014
NOT_SYNCED = -32015
AMOUNT_TOO_PRECISE = -32016
PAYLOAD_TOO_LARGE = -32017
BATCH_NOT_SUPPORTED = -32018
WATCH_ONLY = -32019
NETWORK_ERROR = -32020
UNKNOWN_TOKEN = -32022
TAGS_EXHAUSTED = -32023

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
    INVALID_ADDRESS: ("InvalidAddressError", "Invalid address (not 20 bytes of hex, or a wrong EIP-55 checksum)"),
    NO_CONFIG_KEY: ("NoConfigKeyError", "No config key found"),
    NOT_SYNCED: ("NotSyncedError", "Daemon is not connected to / synchronized with the network yet; retry later"),
    AMOUNT_TOO_PRECISE: ("AmountTooPreciseError", "Amount has more decimal places than the coin or token has"),
    PAYLOAD_TOO_LARGE: ("PayloadTooLargeError", "Request body is larger than 1 MB"),
    BATCH_NOT_SUPPORTED: ("BatchNotSupportedError", "JSON-RPC batch requests are not supported; send one call"),
    WATCH_ONLY: ("WatchOnlyWalletError", "Wallets here are watch-only (an address): this daemon cannot sign or spend"),
    NETWORK_ERROR: ("NetworkError", "The Ethereum node did not answer in time or returned an error"),
    UNKNOWN_TOKEN: ("UnknownTokenError", "Token contract is not in this daemon's registry for its chain"),
    TAGS_EXHAUSTED: (
        "TagsExhaustedError",
        "Every payment tag of this wallet and asset is held by an open request; wait for some to expire",
    ),
}


class RPCError(Exception):
    """A failure the caller should see as a JSON-RPC error with a spec code."""

    def __init__(self, code: int, message: str | None = None):
        self.code = code
        self.message = message or EXCEPTIONS[code][1]
        super().__init__(self.message)


def build_spec() -> dict:
    return {
        "version": SPEC_VERSION,
        "electrum_map": {},
        "exceptions": {str(code): {"exc_name": name, "docstring": doc} for code, (name, doc) in EXCEPTIONS.items()},
        "capabilities": {"lightning": False, "tokens": True},
    }
