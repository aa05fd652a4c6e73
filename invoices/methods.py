"""Where a new invoice is paid, per coin family: the address, the daemon's key for it, the exact amount.

Bitcoin-family coins get a fresh address derived here from the wallet's xpub (m/0/i; the listener then
registers it with the daemon), so creating an invoice never waits on a bitcoin daemon. Ethereum-family coins
are all paid to the merchant's one address and told apart by the amount (daemons/eth/README.md): the daemon
opens a request and answers the amount to ask, payment tag included, and its id.

Called before the invoice's transaction (invoice_create), which then only writes. A chain whose daemon does
not answer in time is left out, and the invoice is made with the other chains' methods; an invoice that
would have none is refused (service_unavailable). A request opened for an invoice whose transaction then
fails is never paid and ends with its expiry.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby
from urllib.parse import quote, urlencode

from django.conf import settings

from bitcart.errors import ServiceUnavailable
from bitcart.money import format_units
from coins import evm, registry
from coins.registry import Chain, Coin, Family
from daemons.client import DaemonError, chain_client
from wallets.keys import derive_receive_address
from wallets.models import Wallet
from wallets.services import wallet_allocate_index

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ask:
    """What one payment method will ask: a coin of one of the store's wallets, at a rate."""

    wallet: Wallet
    coin: Coin
    rate: Decimal  # units of the invoice's currency per 1 coin
    rate_source: str
    amount: int  # in the coin's smallest unit


@dataclass(frozen=True)
class Place:
    address: str  # where the buyer pays
    lookup: str  # the daemon's key: the address, or the request id
    index: int | None  # derivation index (bitcoin family)
    amount: int  # to ask, in the coin's smallest unit
    uri: str  # BIP21 / EIP-681


def bip21_uri(*, scheme: str, address: str, units: int, places: int, label: str) -> str:
    query = urlencode({"amount": format_units(units, places), "label": label[:100]}, quote_via=quote)
    return f"{scheme}:{address}?{query}"


def payment_uri(*, chain: Chain, currency: str, address: str, units: int, label: str = "") -> str:
    """The URI a wallet pays from (the checkout's QR), for `units` of `currency` to `address`."""
    coin = registry.coin(currency)
    if chain.family == Family.ETHEREUM:
        return evm.eip681_uri(address=address, units=units, chain_id=chain.chain_id, contract=coin.contract)
    return bip21_uri(scheme=chain.family.value, address=address, units=units, places=coin.decimals, label=label)


def _bitcoin(chain: Chain, asks: Sequence[Ask], label: str) -> list[Place]:
    places = []
    for ask in asks:
        # Each wallet's index is taken in a statement of its own, committed at once (unless the caller holds a
        # transaction open): taken inside the invoice's transaction, the wallet row stayed locked until that
        # commit and every invoice of a wallet queued behind it (31% of an API request's time with 8
        # concurrent clients). A transaction that then fails leaves an unused index, never a reused one.
        index = wallet_allocate_index(wallet_id=ask.wallet.pk)
        address = derive_receive_address(ask.wallet.xpub, ask.wallet.network, index)
        uri = payment_uri(chain=chain, currency=ask.coin.symbol, address=address, units=ask.amount, label=label)
        places.append(Place(address, address, index, ask.amount, uri))
    return places


def _ethereum(chain: Chain, asks: Sequence[Ask], label: str, expires_in: int) -> list[Place]:
    client = chain_client(chain.key, timeout=settings.DAEMON_CREATE_TIMEOUT)
    places = []
    for ask in asks:
        wallet = {"xpub": ask.wallet.xpub, "contract": ask.coin.contract} if ask.coin.is_token else ask.wallet.xpub
        request = client.call(
            "add_request",
            xpub=wallet,
            amount=format_units(ask.amount, ask.coin.decimals),
            memo=label[:200],
            expiration=expires_in,
        )
        amount = int(request["amount_wei"])
        if amount < ask.amount:
            raise DaemonError(f"add_request: the daemon asked {amount}, less than the price ({ask.amount})")
        address = ask.wallet.xpub
        uri = payment_uri(chain=chain, currency=ask.coin.symbol, address=address, units=amount)
        places.append(Place(address, str(request["request_id"]), None, amount, uri))
    return places


def places_for(asks: Sequence[Ask], *, label: str, expires_in: int) -> list[tuple[Ask, Place]]:
    """A place per ask, in the asks' order, without the asks of chains whose daemon failed."""
    found: dict[int, Place] = {}
    failures: list[str] = []
    numbered = sorted(enumerate(asks), key=lambda pair: pair[1].coin.chain)
    for key, group in groupby(numbered, key=lambda pair: pair[1].coin.chain):
        pairs = list(group)
        chain = registry.chain(key)
        chain_asks = [ask for _, ask in pairs]
        try:
            if chain.family == Family.ETHEREUM:
                places = _ethereum(chain, chain_asks, label, expires_in)
            else:
                places = _bitcoin(chain, chain_asks, label)
        except DaemonError as exc:
            logger.warning("invoice without %s methods: its daemon failed (%s)", chain.symbol, exc)
            failures.append(f"{chain.symbol}: {exc}")
            continue
        found.update({number: place for (number, _), place in zip(pairs, places, strict=True)})
    if not found:
        raise ServiceUnavailable(
            "No payment method can be opened now: " + "; ".join(failures), code="daemon_unavailable"
        )
    return [(ask, found[number]) for number, ask in enumerate(asks) if number in found]
