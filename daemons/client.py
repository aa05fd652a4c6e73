"""Django's client of the coin daemon (JSON-RPC 2.0 over HTTP, Bitcart's daemon protocol).

Typed, with a timeout on every call. Errors are split into retryable (the daemon is down, slow,
or still syncing: try again later) and terminal (bad input: retrying cannot help).
"""

import itertools
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import httpx
from django.conf import settings

from coins import registry

logger = logging.getLogger(__name__)
_ids = itertools.count(1)

# get_address_outputs: the daemon's time budget per call, inside this client's timeout (it still has to
# send the answer, and Django has to read it).
OUTPUTS_BUDGET = 6.0
OUTPUTS_BUDGET_SHARE = 0.6

# Codes from the daemon's /spec that mean "try again later" rather than "you asked wrongly".
RETRYABLE_CODES = frozenset({-32603, -32000, 2, 3, 4, 5, 6})


class DaemonError(Exception):
    retryable = False

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.code = code


class DaemonUnavailable(DaemonError):
    """Connection refused, timeout, 5xx: the daemon can't answer now."""

    retryable = True


class DaemonRejected(DaemonError):
    """The daemon answered with an error for this request."""


@dataclass(frozen=True)
class ChainOutput:
    address: str
    txid: str
    vout: int
    value: int  # in the coin's smallest unit
    height: int  # 0: in the mempool
    confirmations: int


class AddressOutputs(NamedTuple):
    height: int
    outputs: dict[str, list[ChainOutput]]
    pending: list[str]  # not answered in time: absent from `outputs`, nothing to conclude
    unknown: list[str] = []  # keys the daemon has no record of (an Ethereum daemon whose data dir was lost)


class DaemonClient:
    """A client of one chain's daemon (coins.registry: its URL, login and password); bitcoin's by default."""

    def __init__(
        self,
        url: str | None = None,
        *,
        login: str | None = None,
        password: str | None = None,
        timeout: float | None = None,
        chain: str = "btc",
    ):
        conf = registry.chain(chain)
        self.chain = conf.key
        self.url = url or conf.daemon_url
        self.auth = (login or conf.login, password if password is not None else conf.daemon_password())
        self.timeout = timeout or settings.DAEMON_TIMEOUT
        # One keep-alive connection pool per client (httpx.Client is thread-safe): a listener or a
        # reconciliation makes many calls, and a new TCP connection each time costs milliseconds.
        self._http = httpx.Client(auth=self.auth, timeout=self.timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "DaemonClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, method: str, /, **params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
        try:
            response = self._http.post(self.url, json=body)
        except httpx.HTTPError as exc:  # connect errors, timeouts, protocol errors
            raise DaemonUnavailable(f"{method}: daemon unreachable ({exc.__class__.__name__}: {exc})") from exc
        if response.status_code >= 500 and not response.content:
            raise DaemonUnavailable(f"{method}: daemon answered HTTP {response.status_code}")
        try:
            payload = response.json(parse_float=Decimal)
        except ValueError:
            raise DaemonUnavailable(f"{method}: daemon answered HTTP {response.status_code} without JSON") from None
        error = payload.get("error") if isinstance(payload, dict) else None
        if error:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            cls = DaemonUnavailable if code in RETRYABLE_CODES else DaemonRejected
            raise cls(f"{method}: {message}", code=code)
        if response.status_code >= 400:
            raise DaemonRejected(f"{method}: HTTP {response.status_code}")
        return payload.get("result")

    # --- what Django uses ---

    def watch_addresses(self, *, xpub: str, addresses: list[dict]) -> Any:
        """addresses: [{"address", "index", "until": unix time}]; idempotent."""
        return self.call("watch_addresses", xpub=xpub, addresses=addresses)

    def unwatch_addresses(self, *, xpub: str, addresses: list[str]) -> Any:
        return self.call("unwatch_addresses", xpub=xpub, addresses=addresses)

    def get_address_outputs(self, *, xpub: str, addresses: list[str], budget: float | None = None) -> AddressOutputs:
        """The authoritative view of outputs paying these addresses, and the chain height.

        The daemon answers within `budget` seconds (by default well inside this client's timeout);
        addresses in `pending` were not answered by then (the daemon is still loading them): they are
        not in `outputs`, and nothing may be concluded about them."""
        if budget is None:
            budget = min(OUTPUTS_BUDGET, self.timeout * OUTPUTS_BUDGET_SHARE)
        result = self.call("get_address_outputs", xpub=xpub, addresses=addresses, budget=budget)
        outputs = {
            address: [
                ChainOutput(
                    address,
                    o["txid"],
                    int(o["vout"]),
                    int(o["value"] if "value" in o else o["value_sat"]),
                    int(o.get("height") or 0),
                    int(o.get("confirmations") or 0),
                )
                for o in items
            ]
            for address, items in (result.get("outputs") or {}).items()
        }
        # A daemon older than `pending` answers every address or fails the call.
        pending = [a for a in result.get("pending") or [] if isinstance(a, str)]
        unknown = [a for a in result.get("unknown") or [] if isinstance(a, str)]
        return AddressOutputs(int(result.get("height") or 0), outputs, pending, unknown)

    def get_tip(self) -> dict:
        return self.call("get_tip")


_clients: dict[tuple[str, float | None], DaemonClient] = {}
_clients_lock = threading.Lock()


def chain_client(key: str, *, timeout: float | None = None) -> DaemonClient:
    """A shared client of a chain's daemon for short calls made while serving requests (one keep-alive pool
    per chain and timeout, kept for the process: httpx.Client is thread-safe). Rebuilt when the chain's
    settings change (tests)."""
    conf = registry.chain(key)
    with _clients_lock:
        client = _clients.get((key, timeout))
        if client is None or client.url != conf.daemon_url or client.auth[1] != conf.daemon_password():
            if client is not None:
                client.close()
            client = _clients[(key, timeout)] = DaemonClient(chain=key, timeout=timeout)
        return client
