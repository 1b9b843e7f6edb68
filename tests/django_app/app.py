"""A one-file Django project for ferry's sendfile end-to-end test.

Run: SENDFILE_BACKEND=django_sendfile.backends.nginx PRIVATE_ROOT=/srv/private \
     python app.py runserver 127.0.0.1:8000 --noreload
"""
import hashlib
import os
import sys
from urllib.parse import quote

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

PRIVATE_ROOT = os.environ["PRIVATE_ROOT"]

settings.configure(
    DEBUG=False,
    SECRET_KEY="ferry-test-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django_sendfile"],
    MIDDLEWARE=[],
    SENDFILE_BACKEND=os.environ.get("SENDFILE_BACKEND", "django_sendfile.backends.nginx"),
    SENDFILE_ROOT=PRIVATE_ROOT,
    SENDFILE_URL="/protected",
    DATA_UPLOAD_MAX_MEMORY_SIZE=None,
)

from django_sendfile import sendfile  # noqa: E402  (needs settings)


def allowed(request):
    # The permission check a real view would make: here, a token.
    return request.headers.get("Authorization") == "Bearer good"


def download(request, name):
    if not allowed(request):
        return HttpResponseForbidden("no\n")
    return sendfile(request, os.path.join(PRIVATE_ROOT, name))


def attachment(request):
    if not allowed(request):
        return HttpResponseForbidden("no\n")
    return sendfile(
        request,
        os.path.join(PRIVATE_ROOT, "report.pdf"),
        attachment=True,
        attachment_filename="Grüße 报告.pdf",
    )


UNICODE_NAME = "résumé final.pdf"


def unicode_file(request):
    # Through the configured backend. The nginx backend percent-encodes the
    # X-Accel-Redirect URL (/protected/r%C3%A9sum%C3%A9%20final.pdf). The
    # xsendfile backend puts the name in X-Sendfile as it is: Django then sends
    # it as latin-1 bytes (or RFC 2047 for names outside latin-1), which no
    # front can map back to the file reliably, hence the next view.
    if not allowed(request):
        return HttpResponseForbidden("no\n")
    return sendfile(request, os.path.join(PRIVATE_ROOT, UNICODE_NAME))


def unicode_file_quoted(request):
    # What an app does to hand a non-ASCII name over X-Sendfile: the absolute
    # path percent-encoded (UTF-8), as mod_xsendfile's XSendFileUnescape expects.
    if not allowed(request):
        return HttpResponseForbidden("no\n")
    response = HttpResponse(content_type="application/pdf")
    response["X-Sendfile"] = quote(os.path.join(PRIVATE_ROOT, UNICODE_NAME))
    return response


def page(request):
    return HttpResponse("an ordinary page\n", content_type="text/plain")


@csrf_exempt
def upload(request):
    h = hashlib.sha256()
    n = 0
    while True:
        chunk = request.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return HttpResponse(f"{n} {h.hexdigest()}\n", content_type="text/plain")


urlpatterns = [
    path("download/<str:name>", download),
    path("attachment/", attachment),
    path("unicode/", unicode_file),
    path("unicode-quoted/", unicode_file_quoted),
    path("page/", page),
    path("upload/", upload),
]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
