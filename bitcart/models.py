from collections.abc import Iterable
from decimal import Decimal

from django.db import models

from bitcart.ids import ULID_LENGTH, new_ulid


class UlidField(models.CharField):
    """Primary key for anything public: a ULID, sortable and unguessable."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", ULID_LENGTH)
        kwargs.setdefault("default", new_ulid)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("primary_key", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key, value in (
            ("max_length", ULID_LENGTH),
            ("default", new_ulid),
            ("editable", False),
            ("primary_key", True),
        ):
            if kwargs.get(key) == value:
                kwargs.pop(key)
        return name, path, args, kwargs


def money_field(**kwargs) -> models.DecimalField:
    """Decimal amount of any currency (fiat up to 3 places, BTC 8): one column shape everywhere."""
    return models.DecimalField(max_digits=28, decimal_places=12, **kwargs)


class UnitsField(models.DecimalField):
    """An amount in a coin's smallest unit (satoshi, wei, token unit): NUMERIC(40, 0) in the database, int in
    Python. 40 digits hold 10^30 base units with room to add them up; no float is ever involved."""

    MAX_DIGITS = 40
    # For django-stubs' mypy plugin: what the attribute holds on an instance.
    _pyi_private_set_type: int | Decimal
    _pyi_private_get_type: int  # type: ignore[assignment]  # an int, where DecimalField gives a Decimal

    def __init__(self, *args, **kwargs):
        kwargs["max_digits"] = self.MAX_DIGITS
        kwargs["decimal_places"] = 0
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def to_python(self, value):
        value = super().to_python(value)
        return None if value is None else int(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
        return super().get_db_prep_value(value, connection, prepared)


def prefetched(instance: models.Model, **relations: Iterable[models.Model]) -> None:
    """Fill `instance`'s reverse relations with rows the caller already holds, as
    prefetch_related would have (so `instance.<relation>.all()` reads them without a query).

    For rows this transaction just wrote (a new invoice's payment methods, say); it does what
    Django's own prefetch does with what it fetched: a queryset whose result cache is set.
    """
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in relations.items():
        queryset = getattr(instance, name).all()
        queryset._result_cache = list(rows)
        queryset._prefetch_done = True
        cache[name] = queryset
