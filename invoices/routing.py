from django.urls import path

from invoices.consumers import InvoiceConsumer

websocket_urlpatterns = [
    path("ws/invoices/<str:invoice_id>", InvoiceConsumer.as_asgi()),
]
