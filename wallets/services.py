from django.db import IntegrityError, connection, transaction

from bitcart.errors import Conflict, ValidationFailed
from coins import evm, registry
from coins.registry import Family
from invoices.selectors import wallet_has_watched_invoices
from wallets.keys import parse_xpub
from wallets.models import Wallet


def wallet_currency_choices() -> list[tuple[str, str]]:
    """The enabled chains' coins, for forms (callable choices: read when the form is built)."""
    return [(chain.symbol, f"{chain.symbol} ({chain.native.name})") for chain in registry.chains()]


def wallet_chain(currency: str) -> registry.Chain:
    try:
        return registry.chain((currency or "").strip())
    except KeyError:
        enabled = ", ".join(chain.symbol for chain in registry.chains())
        raise ValidationFailed(
            f"Unsupported wallet currency {currency!r} (this server takes {enabled})", code="unsupported_currency"
        ) from None


def wallet_validate(*, currency: str, network: str | None, xpub: str) -> str:
    """Returns the normalized key (an xpub; for Ethereum-family chains the checksummed address), or raises
    ValidationFailed saying what is wrong."""
    chain = wallet_chain(currency)
    network = network or chain.network
    if network not in chain.networks:
        raise ValidationFailed(
            f"A {chain.symbol} wallet here is on {' or '.join(chain.networks)}, not {network!r}",
            code="invalid_network",
        )
    if chain.family == Family.ETHEREUM:
        try:
            return evm.checksum_address(xpub)
        except evm.AddressError as exc:
            raise ValidationFailed(str(exc), code="invalid_address") from None
    return parse_xpub(xpub, network).text


def wallet_create(
    *,
    owner,
    name: str,
    xpub: str,
    currency: str = "BTC",
    network: str | None = None,
    label: str = "",
    transaction_speed: int | None = None,
) -> Wallet:
    xpub = wallet_validate(currency=currency, network=network, xpub=xpub)
    network = network or wallet_chain(currency).network
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("Wallet name must be 1 to 200 characters", code="invalid_name")
    if transaction_speed is not None and not 0 <= transaction_speed <= 6:
        raise ValidationFailed("transaction_speed must be between 0 and 6", code="invalid_speed")
    if Wallet.objects.filter(currency=currency.upper(), network=network, xpub=xpub).exists():
        raise Conflict("This key is already connected as a wallet", code="wallet_exists")
    try:
        with transaction.atomic():
            return Wallet.objects.create(
                owner=owner,
                name=name,
                xpub=xpub,
                currency=currency.upper(),
                network=network,
                label=label,
                transaction_speed=transaction_speed,
            )
    except IntegrityError:  # lost a race with the same key
        raise Conflict("This key is already connected as a wallet", code="wallet_exists") from None


def wallet_update(*, wallet: Wallet, **fields: object) -> Wallet:
    """Rename or relabel a wallet, or change its speed policy; its key and network never change."""
    allowed = {"name", "label", "transaction_speed"}
    if set(fields) - allowed:
        raise ValidationFailed(f"Only {', '.join(sorted(allowed))} can change on a wallet", code="wallet_field_fixed")
    if "name" in fields:
        name = str(fields["name"] or "").strip()
        if not name or len(name) > 200:
            raise ValidationFailed("Wallet name must be 1 to 200 characters", code="invalid_name")
        fields["name"] = name
    if "label" in fields:
        label = str(fields["label"] or "").strip()
        if len(label) > 200:
            raise ValidationFailed("Wallet label must be at most 200 characters", code="invalid_label")
        fields["label"] = label
    speed = fields.get("transaction_speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int) or not 0 <= speed <= 6):
        raise ValidationFailed("transaction_speed must be between 0 and 6", code="invalid_speed")
    with transaction.atomic():
        locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        if fields:
            locked.save(update_fields=list(fields))
    return locked


def wallet_allocate_index(*, wallet_id: str) -> int:
    """Reserve the next derivation index: one atomic statement (UPDATE ... RETURNING, PostgreSQL
    and SQLite >= 3.35), so two callers never get the same index. Inside a transaction the wallet
    row stays locked until its commit (and a rollback gives the index back); invoice creation calls
    it outside its transaction so that invoices of one wallet do not queue behind each other."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Wallet._meta.db_table} SET next_index = next_index + 1 WHERE id = %s RETURNING next_index",
            [wallet_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise ValidationFailed("Wallet not found", code="wallet_not_found")
    return int(row[0]) - 1


def wallet_delete(*, wallet: Wallet) -> None:
    """Refused while any invoice paid to this wallet is still open or watched."""
    with transaction.atomic():
        locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
        if wallet_has_watched_invoices(wallet_id=locked.pk):
            raise Conflict(
                "This wallet has open invoices; wait until they end or mark them invalid",
                code="wallet_has_open_invoices",
            )
        if locked.payment_methods.exists():
            # Addresses stay bound to their invoices for all time; the history must keep its wallet.
            raise Conflict(
                "This wallet has invoice history and cannot be deleted; remove it from its stores instead",
                code="wallet_has_history",
            )
        locked.delete()
