"""The websocket consumer, spoken to over ASGI with the real Redis channel layer."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from channels.routing import URLRouter

from invoices.consumers import invoice_group
from invoices.routing import websocket_urlpatterns

INVOICE = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
# Channels closes stale database connections around every handler (from a worker thread), so the
# database must be reachable from other threads even though these consumers never query it.
pytestmark = pytest.mark.django_db(transaction=True)


def connect(path: str) -> ApplicationCommunicator:
    scope = {"type": "websocket", "path": path, "headers": [], "query_string": b"", "subprotocols": []}
    return ApplicationCommunicator(URLRouter(websocket_urlpatterns), scope)


@async_to_sync
async def push_and_receive() -> tuple[dict, dict, bool]:
    socket = connect(f"/ws/invoices/{INVOICE}")
    await socket.send_input({"type": "websocket.connect"})
    accepted = await socket.receive_output(timeout=5)
    message = {"status": "paid", "exception_status": "none", "sent_amount": "0.00100000", "paid_currency": "BTC"}
    await get_channel_layer().group_send(invoice_group(INVOICE), {"type": "invoice.update", "data": message})
    sent = await socket.receive_output(timeout=5)
    # The page has nothing to say: what a client sends is ignored, nothing comes back.
    await socket.send_input({"type": "websocket.receive", "text": json.dumps({"status": "complete"})})
    quiet = await socket.receive_nothing(timeout=0.3)
    await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(socket.wait(timeout=5), 6)
    return accepted, sent, quiet


@async_to_sync
async def connect_to(path: str) -> dict:
    socket = connect(path)
    await socket.send_input({"type": "websocket.connect"})
    return await socket.receive_output(timeout=5)


def test_pushes_group_messages_to_the_page():
    accepted, sent, quiet = push_and_receive()

    assert accepted == {"type": "websocket.accept", "subprotocol": None}
    assert json.loads(sent["text"]) == {
        "status": "paid",
        "exception_status": "none",
        "sent_amount": "0.00100000",
        "paid_currency": "BTC",
    }
    assert quiet


@pytest.mark.parametrize("bad_id", ["not-a-ulid", "01HZZZZZZZZZZZZZZZZZZZZZZ", "01hzzzzzzzzzzzzzzzzzzzzzzz"])
def test_rejects_ids_that_are_not_invoice_ids(bad_id):
    assert connect_to(f"/ws/invoices/{bad_id}") == {"type": "websocket.close", "code": 4404}
