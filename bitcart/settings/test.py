import os

# Tests start their own embedded Redis when REDIS_URL is unset: not on the sandbox's port, so
# `make test` never stops (or shares) the Redis of a running `make run`.
os.environ.setdefault("EMBEDDED_REDIS_PORT", "6399")

from bitcart.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES["default"]["KEY_PREFIX"] = "bitcart-test"  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "bitcart-test"  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: threads in tests (listener, races) need SQLite's real
    # locking with WAL and the busy timeout, as in the sandbox.
    # One file per test process, so concurrent runs never share (or delete) each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
