"""JSON-RPC error codes shared by every coin daemon, and the `/spec` document.

The codes above -32015 and their `exc_name`s are Bitcart's (daemons/spec/btc.json), so the `bitcart` SDK
raises the same exception classes against our daemons as against Bitcart's. Codes from -32015 down are
ours, for failures Bitcart's daemon never reported (it waited forever for sync, accepted any payload...).
The SDK turns any code present in `exceptions` into `exc_name(docstring)`, so every code a daemon emits is
listed. A coin adds its own codes, and its own wording of the shared ones it phrases differently
(`exception_table`), and subclasses RPCError with that table.
"""

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

# JSON-RPC's own codes come first in /spec, in this order; the daemon codes follow from -32000 down.
_JSONRPC_ORDER = (PARSE_ERROR, UNAUTHORIZED, PROCEDURE_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR)

COMMON_EXCEPTIONS: dict[int, tuple[str, str]] = {
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
    NO_CONFIG_KEY: ("NoConfigKeyError", "No config key found"),
    NOT_SYNCED: ("NotSyncedError", "Daemon is not connected to / synchronized with the network yet; retry later"),
    PAYLOAD_TOO_LARGE: ("PayloadTooLargeError", "Request body is larger than 1 MB"),
    BATCH_NOT_SUPPORTED: ("BatchNotSupportedError", "JSON-RPC batch requests are not supported; send one call"),
}

# Shared codes whose docstring names the coin's own terms: each coin must word them.
COIN_WORDED = (INVALID_ADDRESS, AMOUNT_TOO_PRECISE, WATCH_ONLY, NETWORK_ERROR)


def exception_table(own: dict[int, tuple[str, str]]) -> dict[int, tuple[str, str]]:
    """The common codes plus a coin's, in /spec order."""
    missing = [code for code in COIN_WORDED if code not in own]
    if missing:
        raise ValueError(f"a coin must word codes {missing}")
    merged = {**COMMON_EXCEPTIONS, **own}
    order = sorted(merged, key=lambda code: (0, _JSONRPC_ORDER.index(code)) if code in _JSONRPC_ORDER else (1, -code))
    return {code: merged[code] for code in order}


class RPCError(Exception):
    """A failure the caller should see as a JSON-RPC error with a spec code (the message defaults to its docstring)."""

    exceptions: dict[int, tuple[str, str]] = COMMON_EXCEPTIONS

    def __init__(self, code: int, message: str | None = None):
        self.code = code
        self.message = message or self.exceptions[code][1]
        super().__init__(self.message)


def build_spec(
    *, version: str, exceptions: dict[int, tuple[str, str]], electrum_map: dict[str, int], capabilities: dict
) -> dict:
    return {
        "version": version,
        "electrum_map": dict(electrum_map),
        "exceptions": {str(code): {"exc_name": name, "docstring": doc} for code, (name, doc) in exceptions.items()},
        "capabilities": dict(capabilities),
    }
