"""Admin for API tokens: create one (its secret is shown once, in a message), list, revoke."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.models import Token
from accounts.scopes import SCOPES, SERVER_MANAGEMENT, scope_is_valid


class TokenCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in SCOPES], required=False)
    extra_scopes = forms.CharField(
        required=False, help_text="Selective scopes, comma-separated, e.g. invoice_management:<store id>"
    )

    class Meta:
        model = Token
        fields = ("user", "app_id", "redirect_url", "expires_at")

    def clean_extra_scopes(self) -> list[str]:
        scopes = [s.strip() for s in self.cleaned_data.get("extra_scopes", "").split(",") if s.strip()]
        bad = [s for s in scopes if not scope_is_valid(s)]
        if bad:
            raise forms.ValidationError(f"Unknown scopes: {', '.join(bad)}")
        return scopes

    def clean(self):
        data = super().clean()
        user = data.get("user")
        wanted = [*data.get("scopes", []), *data.get("extra_scopes", [])]
        if user is not None and SERVER_MANAGEMENT in wanted and not user.is_superuser:
            raise forms.ValidationError("server_management is only for superusers")
        return data


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "app_id", "permissions", "expires_at", "last_used_at", "created")
    search_fields = ("prefix", "app_id", "user__email")
    readonly_fields = ("prefix", "permissions", "last_used_at", "created")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TokenCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "scopes", "extra_scopes", "app_id", "redirect_url", "expires_at")
        return ("user", "prefix", "permissions", "app_id", "redirect_url", "expires_at", "last_used_at", "created")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("user",) if obj is not None else ())

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def save_model(self, request, obj: Token, form, change: bool) -> None:
        if change:
            services.token_update(token=obj, redirect_url=obj.redirect_url, app_id=obj.app_id)
            return
        token, secret = services.token_create(
            user=obj.user,
            permissions=[*form.cleaned_data.get("scopes", []), *form.cleaned_data.get("extra_scopes", [])],
            app_id=obj.app_id,
            redirect_url=obj.redirect_url,
            expires_at=obj.expires_at,
        )
        obj.pk = token.pk
        self.message_user(request, f"Token created. Copy it now, it is not shown again: {secret}", messages.WARNING)
