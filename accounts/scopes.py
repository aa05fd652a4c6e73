"""Token permission scopes, with Bitcart's names.

A token holds a list of scopes. `full_control` grants everything its user may do; `server_management`
additionally needs a superuser. A selective scope `<scope>:<store_id>` grants `<scope>` for objects of
that one store only (e.g. `invoice_management:01J...` lets a shop plugin see just its own store's
invoices).
"""

from collections.abc import Iterable

FULL_CONTROL = "full_control"
SERVER_MANAGEMENT = "server_management"
STORE_MANAGEMENT = "store_management"
INVOICE_MANAGEMENT = "invoice_management"
WALLET_MANAGEMENT = "wallet_management"
PRODUCT_MANAGEMENT = "product_management"
DISCOUNT_MANAGEMENT = "discount_management"
NOTIFICATION_MANAGEMENT = "notification_management"
TEMPLATE_MANAGEMENT = "template_management"
TOKEN_MANAGEMENT = "token_management"
WEBHOOK_MANAGEMENT = "webhook_management"

SCOPES: tuple[str, ...] = (
    FULL_CONTROL,
    SERVER_MANAGEMENT,
    STORE_MANAGEMENT,
    INVOICE_MANAGEMENT,
    WALLET_MANAGEMENT,
    PRODUCT_MANAGEMENT,
    DISCOUNT_MANAGEMENT,
    NOTIFICATION_MANAGEMENT,
    TEMPLATE_MANAGEMENT,
    TOKEN_MANAGEMENT,
    WEBHOOK_MANAGEMENT,
)
# Scopes that may be narrowed to one store.
SELECTIVE_SCOPES = frozenset(
    {
        STORE_MANAGEMENT,
        INVOICE_MANAGEMENT,
        PRODUCT_MANAGEMENT,
        DISCOUNT_MANAGEMENT,
        NOTIFICATION_MANAGEMENT,
        TEMPLATE_MANAGEMENT,
        WEBHOOK_MANAGEMENT,
    }
)


def scope_is_valid(scope: str) -> bool:
    if scope in SCOPES:
        return True
    base, sep, object_id = scope.partition(":")
    return bool(sep) and base in SELECTIVE_SCOPES and 0 < len(object_id) <= 64


class Grant:
    """What a set of scopes allows for one required scope: everything, some stores, or nothing."""

    __slots__ = ("all", "store_ids")

    def __init__(self, *, all: bool, store_ids: frozenset[str] = frozenset()):
        self.all = all
        self.store_ids = store_ids

    def __bool__(self) -> bool:
        return self.all or bool(self.store_ids)

    def allows_store(self, store_id: str | None) -> bool:
        return self.all or (store_id is not None and store_id in self.store_ids)


def grant_for(permissions: Iterable[str], scope: str, *, is_superuser: bool = False) -> Grant:
    permissions = set(permissions)
    if scope == SERVER_MANAGEMENT:
        return Grant(all=is_superuser and bool(permissions & {FULL_CONTROL, SERVER_MANAGEMENT}))
    if FULL_CONTROL in permissions or scope in permissions:
        return Grant(all=True)
    prefix = f"{scope}:"
    return Grant(all=False, store_ids=frozenset(p[len(prefix) :] for p in permissions if p.startswith(prefix)))
