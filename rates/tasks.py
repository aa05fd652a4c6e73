from celery import shared_task

from rates import services


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=58)
def rates_refresh_task() -> dict:
    # Beat runs this every minute; the limits keep a stuck run from overlapping many others.
    return services.rates_refresh()


@shared_task(ignore_result=True, acks_late=True)
def rate_incident_record_task(*, store_id: str | None, pair: str, reason: str) -> None:
    services.rate_incident_record(store_id=store_id, pair=pair, reason=reason)
