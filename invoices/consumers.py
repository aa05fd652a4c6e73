import re

from channels.generic.websocket import AsyncJsonWebsocketConsumer

# Invoice ids are ULIDs. Anything else cannot have updates, and would not make a valid group name.
INVOICE_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
CLOSE_NOT_FOUND = 4404


def invoice_group(invoice_id: str) -> str:
    return f"invoice_{invoice_id}"


class InvoiceConsumer(AsyncJsonWebsocketConsumer):
    """Push-only: the checkout page listens for its invoice's status; nothing is read from it.

    No database access here: the page asks /i/<id>/status once the socket is open, which covers
    anything that happened before it subscribed.
    """

    group: str | None = None

    async def connect(self) -> None:
        invoice_id = self.scope["url_route"]["kwargs"]["invoice_id"]
        if not INVOICE_ID.match(invoice_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = invoice_group(invoice_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The page has nothing to say; whatever a client sends is ignored."""

    async def invoice_update(self, event: dict) -> None:
        await self.send_json(event["data"])
