"""A real local EVM node (ganache from npm, loopback only) with test ERC-20 tokens, for the tests of the ETH
daemon and of Ethereum payments end to end. Payments are signed with the node's funded test accounts."""

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import HTTPProvider, Web3

from daemons.eth.testing import CHAIN_ID, EvmNode, start_evm_node


@dataclass
class Chain:
    node: EvmNode
    w3: Web3
    abi: list
    payer: str
    artifact: dict
    tokens: dict[str, str] = field(default_factory=dict)  # symbol -> contract of the deployed test tokens

    @property
    def usdt(self) -> str:
        return self.tokens["USDT"]

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
        factory = self.w3.eth.contract(abi=self.artifact["abi"], bytecode=self.artifact["bytecode"])
        data = factory.constructor(f"Test {symbol}", symbol, decimals, 10**12 * 10**decimals).data_in_transaction
        tx_hash, _raw = self.send({"data": data, "value": 0, "gas": 3_000_000})
        receipt: Any = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        return str(receipt["contractAddress"])


def start_chain(directory: Path, artifact: dict, tokens: tuple[str, ...] = ("USDT",)) -> Chain:
    """A node on a free port with each of `tokens` deployed (6 decimals, the payer holding the supply)."""
    node = start_evm_node(directory)
    try:
        w3 = Web3(HTTPProvider(node.url, request_kwargs={"timeout": 10}))
        chain = Chain(node, w3, artifact["abi"], next(iter(node.keys)), artifact)
        for symbol in tokens:
            chain.tokens[symbol] = chain.deploy(symbol, 6)
        return chain
    except BaseException:
        node.stop()
        raise
