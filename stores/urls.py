from django.urls import path

from stores import views

app_name = "stores"

urlpatterns = [
    path("s/<str:store_id>", views.store_page, name="store"),
    path("s/<str:store_id>/pos", views.store_pos, name="pos"),
]
