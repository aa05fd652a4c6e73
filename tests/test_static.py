import pytest
from django.test import Client


@pytest.mark.django_db
def test_static_and_media_are_served_by_the_web_process(settings, tmp_path):
    client = Client()
    response = client.get("/static/bitcart/checkout.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).strip()
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "a.png").write_bytes(b"\x89PNG")
    response = client.get("/media/products/a.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG"
    # Traversal out of MEDIA_ROOT is refused (SuspiciousFileOperation → 400).
    (tmp_path.parent / "outside.txt").write_text("secret")
    assert client.get("/media/../outside.txt").status_code == 400
