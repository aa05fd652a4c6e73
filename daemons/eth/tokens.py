"""Assets (native ETH and ERC-20 tokens), amounts in smallest units, addresses, and payment-tag arithmetic.

Amounts are ints of the smallest unit (wei, token units) everywhere inside; decimal strings at the edge.
A payment tag is a number t in [1, 10**digits) carried by an amount's digits just above `tag_unit`:
tag_of(v) = (v // tag_unit) % 10**digits. README.md explains why.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from coins import evm
from daemons.eth.errors import UNKNOWN_TOKEN, RPCError
from daemons.protocol.errors import AMOUNT_TOO_PRECISE, INVALID_ADDRESS, INVALID_PARAMS

NATIVE = "ETH"
MAX_AMOUNT = 2**256 - 1


def check_address(value: object) -> str:
    """The EIP-55 checksummed form; all-lower/all-upper hex is accepted (it carries no checksum), mixed case
    must match its checksum."""
    try:
        return evm.checksum_address(value)
    except evm.AddressError as exc:
        raise RPCError(INVALID_ADDRESS, str(exc)) from None


@dataclass(frozen=True)
class Token:
    symbol: str
    contract: str | None  # None for native ETH
    decimals: int

    @property
    def key(self) -> str:
        """How the store names the asset: '' for ETH, the lower-case contract for a token."""
        return self.contract.lower() if self.contract else ""

    @property
    def tag_unit(self) -> int:
        return evm.tag_unit(self.decimals, is_token=self.contract is not None)

    def parse(self, value: object) -> int:
        """A decimal amount (str/int/Decimal; float refused: it is not exact) to smallest units."""
        if value is None or value == "":
            return 0
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal, float)):
            raise RPCError(INVALID_PARAMS, "amount must be a decimal string or a number")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise RPCError(INVALID_PARAMS, f"amount is not a number: {str(value)[:50]!r}") from None
        if not amount.is_finite() or amount < 0:
            raise RPCError(INVALID_PARAMS, "amount must be a finite, non-negative number")
        units = amount.scaleb(self.decimals)
        if units != units.to_integral_value():
            raise RPCError(AMOUNT_TOO_PRECISE, f"{self.symbol} has {self.decimals} decimals")
        if units > MAX_AMOUNT:
            raise RPCError(INVALID_PARAMS, "amount is out of range")
        return int(units)

    def format(self, units: int) -> str:
        if self.decimals == 0:
            return str(units)
        return format(Decimal(units).scaleb(-self.decimals).quantize(Decimal(1).scaleb(-self.decimals)), "f")


ETHER = Token(NATIVE, None, 18)


class TokenRegistry:
    def __init__(self, tokens: Iterable[Token]):
        self.by_symbol = {t.symbol: t for t in tokens}
        self.by_contract = {t.key: t for t in self.by_symbol.values()}

    def resolve(self, value: object) -> Token:
        """ETH for None/''/'ETH'; a token by symbol or contract address; else UNKNOWN_TOKEN."""
        if value is None or value == "" or (isinstance(value, str) and value.upper() == NATIVE):
            return ETHER
        if not isinstance(value, str):
            raise RPCError(INVALID_PARAMS, "contract must be a token address or symbol")
        if value.startswith("0x") or value.startswith("0X"):
            contract = check_address(value)
            token = self.by_contract.get(contract.lower())
        else:
            token = self.by_symbol.get(value.upper())
        if token is None:
            raise RPCError(UNKNOWN_TOKEN, f"Unknown token {value[:60]!r} on this chain")
        return token

    def by_key(self, key: str) -> Token:
        return ETHER if key == "" else self.by_contract[key]

    def contracts(self) -> list[str]:
        return [t.contract for t in self.by_symbol.values() if t.contract]

    def export(self) -> list[dict]:
        return [{"symbol": t.symbol, "contract": t.contract, "decimals": t.decimals} for t in self.by_symbol.values()]


def tag_of(units: int, token: Token, digits: int) -> int:
    return evm.tag_of(units, token.tag_unit, digits)


def with_tag(minimum: int, tag: int, token: Token, digits: int) -> int:
    """The smallest amount >= `minimum`, a whole number of tag units, whose tag is `tag` (coins.evm.with_tag)."""
    return evm.with_tag(minimum, tag, token.tag_unit, digits)
