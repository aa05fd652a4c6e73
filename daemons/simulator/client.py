"""Client for the simulator's HTTP control port (stdlib urllib, so it runs anywhere the simulator runs)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

DEFAULT_CONTROL_URL = "http://127.0.0.1:51002"


class SimulatorError(Exception):
    """The simulator refused the call; `code` is its stable error code (e.g. "not_found", "bad_address")."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class SimulatorUnavailable(SimulatorError):
    """The control port did not answer (not running, wrong URL, timeout): retryable."""


class SimulatorClient:
    def __init__(self, control_url: str = DEFAULT_CONTROL_URL, timeout: float = 10) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout = timeout

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        data = json.dumps(arguments or {}).encode()
        request = urllib.request.Request(
            f"{self.control_url}/{name}", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            # The simulator answers refusals with a JSON body; anything else is reported as is.
            body = exc.read()
            try:
                error = json.loads(body)["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", body.decode("utf-8", "replace")[:500]
            raise SimulatorError(code, message, exc.code) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SimulatorUnavailable("unavailable", f"simulator at {self.control_url} unreachable: {reason}")

    def pay(self, address: str, amount_sat: int) -> dict[str, Any]:
        """Pay `amount_sat` to `address` in a new mempool tx -> {txid, vout, hex, fee, outputs}."""
        return self.call("pay", {"address": address, "amount_sat": amount_sat})

    def pay_many(self, outputs: Iterable[tuple[str, int]]) -> dict[str, Any]:
        """One tx paying several (address, amount_sat) outputs; `outputs` in the answer gives each vout."""
        return self.call("pay", {"outputs": [{"address": a, "amount_sat": v} for a, v in outputs]})

    def mine(self, blocks: int = 1, address: str | None = None) -> dict[str, Any]:
        arguments: dict[str, Any] = {"blocks": blocks}
        if address is not None:
            arguments["address"] = address
        return self.call("mine", arguments)

    def drop(self, txid: str) -> dict[str, Any]:
        return self.call("drop", {"txid": txid})

    def reorg(
        self, depth: int = 1, *, keep_txs: bool = True, drop_txids: Iterable[str] = (), blocks: int | None = None
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {"depth": depth, "keep_txs": keep_txs, "drop_txids": list(drop_txids)}
        if blocks is not None:
            arguments["blocks"] = blocks
        return self.call("reorg", arguments)

    def broadcast(self, raw_hex: str) -> str:
        return self.call("broadcast", {"hex": raw_hex})["txid"]

    def tx(self, txid: str) -> dict[str, Any]:
        return self.call("tx", {"txid": txid})

    def info(self) -> dict[str, Any]:
        return self.call("info")
