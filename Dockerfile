# One container running the whole supervisord set (web, worker, beat, daemon, listener).
# Electrum comes from Debian (it is not on PyPI); the Django venv never imports it.
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BITCART_DATA_DIR=/data
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-electrum make ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt && touch .venv/.deps
COPY . .
RUN useradd --system --home /data bitcart && mkdir -p /data && chown bitcart /data
USER bitcart
VOLUME /data
EXPOSE 8000
ENV WEB_HOST=0.0.0.0
CMD ["sh", "-c", ".venv/bin/python manage.py migrate --noinput && .venv/bin/python manage.py collectstatic --noinput -v 0 && .venv/bin/python manage.py bootstrap_sandbox && .venv/bin/python manage.py supervisord_conf > /data/supervisord.conf && exec .venv/bin/supervisord -n -c /data/supervisord.conf"]
