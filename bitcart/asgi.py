import os

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bitcart.settings.production")
# Django must be set up before anything imports models (consumers, routing).
django.setup(set_prefix=False)


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain and the view run in one thread hop.

    Every middleware and view of this project is synchronous. Django's stock handler runs each
    async-capable middleware's process_request and process_response through sync_to_async of
    their own (two thread hops per middleware, ~16 per request with our list) and then the view
    in yet another. Built in sync mode, the whole chain is one call in the request's thread.
    Requests still run concurrently, each in its own thread (Django's ThreadSensitiveContext).
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)


class KeepAliveRecycler:
    """Asks an HTTP client to reconnect after `every` requests on one connection (`Connection:
    close`, like nginx's keepalive_requests).

    A keep-alive connection stays with the worker process that accepted it. An integrator with a
    few long-lived connections could otherwise keep one worker (one core, one GIL) busy while the
    others idle: measured with 8 keep-alive clients and 2 workers, a kernel split of 8/0 gave 145
    invoices/s where an even split gave 215. On reconnecting, the less busy worker tends to accept.
    """

    MAX_TRACKED = 10_000  # connections counted at once; beyond that the counts start over

    def __init__(self, app, every: int):
        self.app = app
        self.every = every
        self.served: dict[tuple, int] = {}

    async def __call__(self, scope, receive, send):
        client = scope.get("client")
        if scope["type"] != "http" or not client or self.every <= 0:
            return await self.app(scope, receive, send)
        key = tuple(client)
        served = self.served.pop(key, 0) + 1
        if served < self.every:
            if len(self.served) >= self.MAX_TRACKED:
                self.served.clear()
            self.served[key] = served
            return await self.app(scope, receive, send)

        async def send_closing(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        return await self.app(scope, receive, send_closing)


django_asgi_app = KeepAliveRecycler(SyncChainASGIHandler(), every=settings.WEB_KEEPALIVE_REQUESTS)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from invoices.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
