"""The ASGI entry point: keep-alive connections are recycled every WEB_KEEPALIVE_REQUESTS requests."""

import asyncio

from bitcart.asgi import KeepAliveRecycler


async def answer(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def serve(app, client) -> list[tuple[bytes, bytes]]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(app({"type": "http", "client": client}, receive, send))
    assert sent[1] == {"type": "http.response.body", "body": b"ok"}
    return sent[0]["headers"]


def closes(headers) -> bool:
    return (b"connection", b"close") in headers


def test_every_nth_request_on_a_connection_asks_the_client_to_reconnect():
    app = KeepAliveRecycler(answer, every=3)
    one, other = ("10.0.0.1", 5000), ("10.0.0.1", 5001)
    assert [closes(serve(app, one)) for _ in range(7)] == [False, False, True, False, False, True, False]
    assert [closes(serve(app, other)) for _ in range(3)] == [False, False, True]  # counted per connection
    assert serve(app, other) == [(b"content-type", b"text/plain")]  # the app's own headers, untouched


def test_off_and_bounded():
    never = KeepAliveRecycler(answer, every=0)
    assert not any(closes(serve(never, ("10.0.0.1", 5000))) for _ in range(50))
    app = KeepAliveRecycler(answer, every=1000)
    app.MAX_TRACKED = 10
    for port in range(25):
        serve(app, ("10.0.0.2", port))
    assert len(app.served) <= 10
