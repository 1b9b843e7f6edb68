"""tests/django_app/app.py as a WSGI application, for gunicorn in
tests/scripts/smuggle.sh's Django scenario:

    PRIVATE_ROOT=/tmp gunicorn -k gthread --chdir tests/attack django_wsgi:application
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "django_app"))

import app  # noqa: E402,F401  (configures Django's settings)
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
