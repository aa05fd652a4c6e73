import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bitcart.settings.production")

app = Celery("bitcart")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def task_enqueue(name: str, *args: Any, **kwargs: Any) -> None:
    """Queue the task registered as `name` (e.g. "webhooks.tasks.webhook_message_deliver_task").

    By name, so that domain code queues a task without importing the tasks module, which imports
    that domain code (services -> tasks -> services). Raises kombu's OperationalError when the
    broker is unreachable, as `.delay()` does.
    """
    if app.conf.task_always_eager:  # tests: run it here and now, as `.delay()` would
        if name not in app.tasks:
            app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery)
        app.tasks[name].apply_async(args, kwargs)
    else:
        app.send_task(name, args, kwargs)
