from datetime import timedelta

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from rates import conf, selectors, services
from rates.charts import history_svg
from rates.models import ProviderHealth, RateIncident, RateObservation, StoreRateRules
from rates.providers import ALL_PROVIDERS

CHART_HOURS = (1, 6, 24, 24 * 7)  # a month of minutes per provider is too many points to load


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the collector only; the admin looks."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ProviderFilter(admin.SimpleListFilter):
    # Choices from the code, not SELECT DISTINCT over months of history.
    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(name, name) for name in ALL_PROVIDERS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(provider=self.value()) if self.value() else queryset


class PairFilter(admin.SimpleListFilter):
    title = "pair"
    parameter_name = "pair"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        since = timezone.now() - timedelta(days=1)
        return [(pair, pair) for pair in selectors.rate_pairs_recorded(since=since)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(pair=self.value()) if self.value() else queryset


@admin.register(RateObservation)
class RateObservationAdmin(ReadOnlyAdmin):
    list_display = ("fetched_at", "provider", "pair", "rate")
    list_filter = (ProviderFilter, PairFilter)
    date_hierarchy = "fetched_at"
    change_list_template = "admin/rates/rateobservation/change_list.html"
    show_full_result_count = False  # COUNT(*) over months of history is the slow part of the page

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # The chart follows the changelist's own pair filter; chart_hours is ours and is taken out
        # of the query before the changelist sees it (it would be read as a field lookup).
        params = request.GET.copy()
        try:
            hours = int(params.pop("chart_hours", ["24"])[-1])
        except ValueError:
            hours = 24
        request.GET = params  # type: ignore[assignment]
        hours = hours if hours in CHART_HOURS else 24
        pair = params.get("pair") or f"{(conf.cryptos() or ('BTC',))[0]}/USD"
        since = timezone.now() - timedelta(hours=hours)
        series: dict = {}
        for provider, fetched_at, rate in selectors.rate_history(pair=pair, since=since).values_list(
            "provider", "fetched_at", "rate"
        ):
            series.setdefault(provider, []).append((fetched_at, rate))
        context = {
            "rate_chart": history_svg(title=f"{pair}, last {hours} h", series=series),
            "rate_chart_pair": pair,
            "rate_chart_pairs": selectors.rate_pairs_recorded(since=since),
            "provider_health": list(selectors.provider_health_list()),
            "current_rates": sorted(selectors.rates_current(pair=pair).items()),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)


@admin.register(ProviderHealth)
class ProviderHealthAdmin(ReadOnlyAdmin):
    list_display = (
        "provider",
        "last_success_at",
        "consecutive_failures",
        "last_error_at",
        "last_error",
        "total_failures",
        "rejected_values",
    )


@admin.register(RateIncident)
class RateIncidentAdmin(ReadOnlyAdmin):
    list_display = ("created", "store", "pair", "reason")
    list_filter = ("pair",)
    list_select_related = ("store",)
    date_hierarchy = "created"


@admin.register(StoreRateRules)
class StoreRateRulesAdmin(admin.ModelAdmin):
    list_display = ("store", "providers", "combine", "spread_percent", "max_deviation_percent", "updated")
    list_select_related = ("store",)
    raw_id_fields = ("store",)

    def save_model(self, request: HttpRequest, obj: StoreRateRules, form, change: bool) -> None:
        # Through the service, so the cached snapshot pricing reads is dropped with the change.
        services.store_rate_rules_save(rules=obj)
