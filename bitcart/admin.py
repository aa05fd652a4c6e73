"""What every merchant-facing admin shares: owner scoping, CSV export, the site's header.

The Django admin is the merchants' UI. A merchant is a staff user in the "Merchants" group
(stores/migrations/0002_merchants_group.py) and must only ever reach their own objects, so every
admin below scopes its queryset, its related-object choices and its object URLs by owner.
"""

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import ForeignKey, ManyToManyField, URLField
from django.http import Http404, HttpRequest, StreamingHttpResponse

from bitcart.ownership import is_owned_model, owned, owned_objects

admin.site.site_header = "Bitcart"
admin.site.site_title = "Bitcart"
admin.site.index_title = "Merchant dashboard"

_default_each_context = admin.site.each_context


def _each_context(request: HttpRequest) -> dict:
    # The default site is built by django.contrib.admin's AppConfig; swapping in an AdminSite
    # subclass would need a settings change, so the one extra variable is added here instead.
    context = _default_each_context(request)
    context["bitcart_sandbox"] = settings.SANDBOX
    return context


admin.site.each_context = _each_context  # type: ignore[method-assign]


class OwnerScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose every read, choice and save stays inside the request user's objects.

    Superusers see and choose everything (and set `owner` by hand); other staff get only what
    `bitcart.ownership.owned` gives them, and `owner` is set to themselves on add.
    """

    # Django 6 changes the default; say it now so pasted bare domains keep meaning https.
    formfield_overrides = {URLField: {"assume_scheme": "https"}}
    # Shown read-only in a last "Record" fieldset on change pages (list them in readonly_fields too).
    record_fields: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest):
        return owned(super().get_queryset(request), user=request.user)

    def _scoped_choices(self, db_field, request: HttpRequest, kwargs: dict) -> None:
        related = db_field.remote_field.model
        if is_owned_model(related) and "queryset" not in kwargs:
            kwargs["queryset"] = owned_objects(related, user=request.user)

    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs):
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: ManyToManyField, request: HttpRequest, **kwargs):
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _has_owner(self) -> bool:
        return any(f.name == "owner" for f in self.model._meta.fields)

    def get_exclude(self, request: HttpRequest, obj=None):
        exclude = list(super().get_exclude(request, obj) or ())
        if self._has_owner() and not request.user.is_superuser:
            exclude.append("owner")
        return exclude

    def get_list_display(self, request: HttpRequest):
        list_display = super().get_list_display(request)
        if self._has_owner() and request.user.is_superuser and "owner" not in list_display:
            return (*list_display, "owner")
        return list_display

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if self.record_fields and obj is not None:
            # Read-only bookkeeping only exists once the row does.
            fieldsets.append(("Record", {"fields": self.record_fields, "classes": ("collapse",)}))
        if not self._has_owner() or request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "owner"]}) for name, options in fieldsets
        ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        if self._has_owner():
            initial.setdefault("owner", request.user.pk)
        return initial

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        owner = request.user if self._has_owner() and not request.user.is_superuser and obj is None else None
        # A per-request subclass carries the user into the form: form-level checks (uniqueness with
        # the owner, declared fields' choices) need it, and class-level fields are shared between requests.
        return type(form.__name__, (form,), {"request_user": request.user, "preset_owner": owner})

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if self._has_owner() and not change and not request.user.is_superuser:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def object_or_404(self, request: HttpRequest, object_id: str) -> Any:
        # Django's default for a missing object is a redirect with "doesn't exist"; an object of
        # another merchant must look exactly like one that does not exist, and be a plain 404.
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("Not found")
        return obj

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        self.object_or_404(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self.object_or_404(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self.object_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)


class ScopedModelForm(forms.ModelForm):
    """Base form of scoped admins; `request_user`/`preset_owner` are set by OwnerScopedAdmin.get_form."""

    request_user = None
    preset_owner = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.preset_owner is not None and not self.instance.owner_id:
            # Set before validation, so checks that involve the owner see the real one.
            self.instance.owner = self.preset_owner

    def form_owner(self):
        """The owner the saved object will have (chosen by a superuser, or the instance's)."""
        if "owner" in self.fields:
            return self.cleaned_data.get("owner")
        return getattr(self.instance, "owner", None) if getattr(self.instance, "owner_id", None) else None


def https_formfield(db_field, **kwargs):
    """Meta.formfield_callback for module-level ModelForms: URLs typed without a scheme mean https."""
    if isinstance(db_field, URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class ViewOnlyScopedAdmin(OwnerScopedAdmin):
    """Rows written only by services (payments, events): merchants and superusers just look."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# --- CSV ----------------------------------------------------------------------------------------

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell spreadsheet programs will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(*, filename: str, header: Iterable[str], rows: Iterable[Iterable[object]]) -> StreamingHttpResponse:
    """Stream a CSV download row by row, so a large export never sits in memory."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([csv_safe(v) for v in header])
        for row in rows:
            yield writer.writerow([csv_safe(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def form_values(form, names) -> dict[str, Any]:
    """Model field values the (validated) form put on its instance, for the given field names."""
    concrete = {f.name for f in form.instance._meta.concrete_fields}
    return {name: getattr(form.instance, name) for name in names if name in concrete and name != "id"}


def became(obj, saved) -> None:
    """The admin goes on with the form's instance (log entry, redirect): make it the saved row."""
    obj.__dict__.update(saved.__dict__)


class ServiceSavedAdmin(OwnerScopedAdmin):
    """The form validates (with the services' rule functions); the writes are the services':
    subclasses give `create(obj, values, form)`, `update(obj, changed, form)` and `delete(obj)`.
    (No per-request state on self: one ModelAdmin instance serves every request.)"""

    def create(self, obj, values: dict[str, Any], form):
        raise NotImplementedError

    def update(self, obj, changed: dict[str, Any], form) -> None:
        raise NotImplementedError

    def delete(self, obj) -> None:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if self._has_owner() and not change and not request.user.is_superuser:
            obj.owner = request.user
        if change:
            self.update(obj, form_values(form, form.changed_data), form)
        else:
            became(obj, self.create(obj, form_values(form, form.cleaned_data), form))

    def delete_model(self, request: HttpRequest, obj) -> None:
        self.delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            self.delete(obj)
