"""Reads about wallets."""

from django.db.models import BigIntegerField, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from invoices.models import Payment, PaymentMethod
from wallets.models import Wallet

# Electrum's and Sparrow's default gap limit: a wallet stops looking for funds after this many
# consecutive unused addresses, so it does not see payments to the addresses beyond them.
GAP_LIMIT = 20


def wallet_annotate_unused_run(*, queryset: QuerySet[Wallet]) -> QuerySet[Wallet]:
    """Each wallet with `unused_run`: the addresses handed out after the last one that received a
    payment (all of them if none did), the run a merchant's own wallet must look across.

    One query for any number of wallets: per wallet, a subquery walks the (wallet, derivation_index)
    unique index backwards from the newest address to the first one with a payment.
    """
    last_paid = (
        # A dropped transaction left no history for the merchant's wallet to see.
        PaymentMethod.objects.filter(
            wallet=OuterRef("pk"), payments__state__in=(Payment.State.UNCONFIRMED, Payment.State.CONFIRMED)
        )
        .order_by("-derivation_index")
        .values("derivation_index")[:1]
    )
    return queryset.annotate(
        unused_run=F("next_index")
        - Coalesce(Subquery(last_paid, output_field=BigIntegerField()), Value(-1, output_field=BigIntegerField()))
        - 1
    )


def wallet_unused_run(*, wallet_id: str) -> int:
    wallet = wallet_annotate_unused_run(queryset=Wallet.objects.filter(pk=wallet_id)).get()
    return wallet.unused_run  # type: ignore[attr-defined]
