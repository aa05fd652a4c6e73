from django.urls import path

from invoices import views

app_name = "invoices"

urlpatterns = [
    path("i/<str:invoice_id>", views.checkout, name="checkout"),
    path("i/<str:invoice_id>/status", views.checkout_status, name="status"),
    path("i/<str:invoice_id>/payment", views.checkout_payment, name="payment"),
    path("i/<str:invoice_id>/customer", views.checkout_customer, name="customer"),
    path("i/<str:invoice_id>/simulate", views.checkout_simulate, name="simulate"),
    path("modal/bitcart.js", views.modal_script, name="modal_script"),
]
