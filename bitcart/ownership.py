"""Who may see a row: every merchant-facing model names the path to its owner (`owner_path`).

Scoping every merchant-facing queryset through `owned` keeps "a merchant sees only their own
objects" in one rule; the kernel knows no domain model, each model says where its owner is.
"""

from django.db.models import Model, QuerySet


def is_owned_model(model: type[Model]) -> bool:
    return isinstance(getattr(model, "owner_path", None), str)


def owned(queryset: QuerySet, *, user) -> QuerySet:
    """`queryset` narrowed to what `user` owns; superusers see everything."""
    if user.is_superuser:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{queryset.model.owner_path: user})


def owned_objects(model: type[Model], *, user) -> QuerySet:
    return owned(model._default_manager.all(), user=user)
