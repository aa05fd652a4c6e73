"""A real ganache node (from npm) for the module's tests, the test ERC-20 deployed to it, and payment helpers."""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from daemons.eth.testing import CHAIN_ID, EvmNode, compile_token, start_daemon, start_evm_node

pytestmark = pytest.mark.slow


@dataclass
class Chain:
    node: EvmNode
    w3: Web3
    usdt: str  # contract address of the 6-decimal test token registered as USDT
    abi: list
    payer: str

    def send(self, tx: dict, key: str | None = None) -> tuple[str, bytes]:
        """Sign with the payer's key, send, wait for the receipt; (tx hash, raw tx) so a test can replay it."""
        sender = Account.from_key(key or self.node.keys[self.payer]).address
        tx = {
            "chainId": CHAIN_ID,
            "nonce": self.w3.eth.get_transaction_count(sender),
            "gasPrice": self.w3.eth.gas_price,
            **tx,
        }
        tx.setdefault("gas", 21_000 if not tx.get("data") else 200_000)
        signed = Account.sign_transaction(tx, key or self.node.keys[self.payer])
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20)
        assert receipt["status"] == 1
        return "0x" + bytes(tx_hash).hex(), bytes(signed.raw_transaction)

    def pay_eth(self, to: str, amount: str) -> tuple[str, bytes]:
        return self.send({"to": to, "value": int(Decimal(amount).scaleb(18))})

    def pay_token(self, to: str, amount: str, contract: str | None = None) -> tuple[str, bytes]:
        token = self.w3.eth.contract(address=Web3.to_checksum_address(contract or self.usdt), abi=self.abi)
        data = token.encode_abi("transfer", args=[to, int(Decimal(amount).scaleb(6))])
        return self.send({"to": contract or self.usdt, "data": data, "value": 0})

    def replay(self, raw: bytes) -> str:
        tx_hash = self.w3.eth.send_raw_transaction(raw)
        self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20)
        return "0x" + bytes(tx_hash).hex()

    def deploy(self, symbol: str, decimals: int) -> str:
        artifact = self._artifact
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        data = factory.constructor(f"Test {symbol}", symbol, decimals, 10**12 * 10**decimals).data_in_transaction
        tx_hash, _raw = self.send({"data": data, "value": 0, "gas": 3_000_000})
        receipt: Any = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        return str(receipt["contractAddress"])

    _artifact: dict = None  # type: ignore[assignment]


@pytest.fixture(scope="session")
def token_artifact():
    return compile_token()


@pytest.fixture(scope="session")
def chain(tmp_path_factory, token_artifact):
    node = start_evm_node(tmp_path_factory.mktemp("evm"))
    try:
        w3 = Web3(HTTPProvider(node.url, request_kwargs={"timeout": 10}))
        payer = next(iter(node.keys))
        chain = Chain(node, w3, "", token_artifact["abi"], payer)
        chain._artifact = token_artifact
        chain.usdt = chain.deploy("USDT", 6)
        yield chain
    finally:
        node.stop()


@pytest.fixture
def merchant_address():
    return Account.create().address


@pytest.fixture
def daemon(tmp_path, chain):
    handle = start_daemon(tmp_path, chain.node, tokens={"USDT": chain.usdt})
    try:
        handle.wait_for(handle.synced, what="first scan")
        yield handle
    finally:
        handle.stop()


def updates(daemon, wallet) -> list[dict]:
    return daemon.rpc("get_updates", xpub=wallet)


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
