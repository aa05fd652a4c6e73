"""The project's ASGI application, plus static files, as the browser tests run it.

Production serves /static/ from STATIC_ROOT in front of Django; here Django's own static handler
does it so the suite needs no collectstatic and no second server.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from bitcart.asgi import application as project_application

application = ASGIStaticFilesHandler(project_application)
