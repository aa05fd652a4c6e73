"""The Ethereum JSON-RPC endpoint through web3.py; every call is bounded by ETH_RPC_TIMEOUT.

Two bounds: aiohttp's total timeout on the HTTP request, and asyncio.wait_for around the whole web3 call (its
middleware and parsing included). web3's own retry loop is off, so one call is one request.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3Exception

T = TypeVar("T")

TRANSFER_TOPIC = (
    "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"  # Transfer(address,address,uint256)
)
# ERC-20 views the daemon may read (`readcontract`): selector, return type.
VIEWS = {
    "symbol": ("0x95d89b41", "string"),
    "name": ("0x06fdde03", "string"),
    "decimals": ("0x313ce567", "uint8"),
    "totalSupply": ("0x18160ddd", "uint256"),
}
BALANCE_OF = "0x70a08231"


class NodeError(Exception):
    """The node did not answer in time, refused the connection, or answered with an error."""


class BlockNotFoundError(Exception):
    """The node answered: no such block or transaction (a normal answer, not a failure)."""


def hx(value: Any) -> str:
    """0x-prefixed lower-case hex of HexBytes/bytes/str."""
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def redact(url: str) -> str:
    """scheme://host[:port] only: provider URLs carry API keys in their path or credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def address_topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


class Node:
    def __init__(self, url: str, timeout: float):
        self.timeout = timeout
        self.url = url
        self.safe_url = redact(url)
        provider = AsyncHTTPProvider(
            url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout)},
            exception_retry_configuration=None,
        )
        self.w3 = AsyncWeb3(provider)

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except (BlockNotFound, TransactionNotFound) as exc:
            raise BlockNotFoundError(str(exc)) from None
        except TimeoutError:
            raise NodeError(f"no answer within {self.timeout}s") from None
        except (aiohttp.ClientError, OSError, Web3Exception, ValueError) as exc:
            # ValueError: web3 raises it for some malformed or error responses
            # messages may quote the endpoint, whose path or credentials can hold a provider's API key
            message = str(exc).replace(self.url, self.safe_url)[:200]
            raise NodeError(f"{type(exc).__name__}: {message}") from None

    async def chain_id(self) -> int:
        return await self._call(self.w3.eth.chain_id)

    async def block_number(self) -> int:
        return await self._call(self.w3.eth.block_number)

    async def block(self, number: int, full: bool = False) -> Any:
        """The block at `number`, or None if the node has none there (not yet, or no more after a reorg)."""
        try:
            return await self._call(self.w3.eth.get_block(number, full_transactions=full))
        except BlockNotFoundError:
            return None

    async def transfer_logs(self, start: int, end: int, contracts: list[str], recipients: list[str]) -> list[Any]:
        params = {
            "fromBlock": start,
            "toBlock": end,
            "address": contracts,
            "topics": [TRANSFER_TOPIC, None, [address_topic(a) for a in recipients]],
        }
        return await self._call(self.w3.eth.get_logs(params))  # type: ignore[arg-type]

    async def receipt(self, tx_hash: str) -> Any:
        """The receipt, or None while the transaction is not mined (or unknown)."""
        try:
            return await self._call(self.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
        except BlockNotFoundError:
            return None

    async def transaction(self, tx_hash: str) -> Any:
        try:
            return await self._call(self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except BlockNotFoundError:
            return None

    async def balance(self, address: str) -> int:
        return await self._call(self.w3.eth.get_balance(address))  # type: ignore[arg-type]

    async def eth_call(self, to: str, data: str) -> bytes:
        return bytes(await self._call(self.w3.eth.call({"to": to, "data": data})))  # type: ignore[typeddict-item]

    async def token_balance(self, contract: str, address: str) -> int:
        raw = await self.eth_call(contract, BALANCE_OF + address[2:].lower().rjust(64, "0"))
        return int.from_bytes(raw[:32], "big") if raw else 0

    async def gas_price(self) -> int:
        return await self._call(self.w3.eth.gas_price)
