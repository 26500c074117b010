# Downloads the way django-sendfile2 (SENDFILE_BACKEND =
# 'django_sendfile.backends.xsendfile' or '...backends.nginx') answers
# them: the view checks what it likes, then returns an empty HttpResponse
# carrying the path, and Apache sends the file.
#
# django-sendfile2 is not packaged in Debian; its two backends are three
# lines each, so they are written out here with the same header handling:
#   xsendfile: response['X-Sendfile'] = str(path)
#   nginx:     response['X-Accel-Redirect'] = quote(SENDFILE_URL + relpath)
# and the wrapper's Content-Disposition / Content-length / Content-Type.
#
# Django encodes header values itself: ISO-8859-1 where the value fits
# (so 'café' goes out as the byte 0xE9), otherwise an RFC 2047 word
# '=?utf-8?b?...?=' (so '€ 東京' does).  That is what the module decodes.
import datetime
import mimetypes
import os
import unicodedata
from urllib.parse import quote

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import condition


def _path(request):
    name = request.GET.get('name', '')
    root = settings.SENDFILE_ROOT
    path = os.path.normpath(os.path.join(root, name))
    if not path.startswith(root + os.sep):
        raise Http404('outside SENDFILE_ROOT')
    return path


def backend_xsendfile(request, path):
    response = HttpResponse()
    response['X-Sendfile'] = str(path)
    return response


def backend_nginx(request, path):
    rel = os.path.relpath(path, settings.SENDFILE_ROOT)
    response = HttpResponse()
    response['X-Accel-Redirect'] = quote(settings.SENDFILE_URL + '/' + rel)
    return response


def _sendfile(request, backend):
    path = _path(request)
    if not os.path.exists(path):
        raise Http404('no such file')
    response = backend(request, path)
    name = os.path.basename(path)
    ascii_name = unicodedata.normalize('NFKD', name).encode('ascii', 'ignore').decode()
    parts = ['attachment', 'filename="%s"' % ascii_name]
    if ascii_name != name:
        parts.append("filename*=UTF-8''%s" % quote(name))
    response['Content-Disposition'] = '; '.join(parts)
    response['Content-length'] = os.stat(path).st_size
    response['Content-Type'] = mimetypes.guess_type(path)[0] or 'application/octet-stream'
    return response


def download_xsendfile(request):
    return _sendfile(request, backend_xsendfile)


def download_accel(request):
    return _sendfile(request, backend_nginx)


# An application resource guarded by Django's own conditional processing
# (t/transparent.t): @condition answers If-None-Match/If-Modified-Since
# with 304 and a stale If-Match on PUT or DELETE with 412, the optimistic
# lock that must keep working behind the module.
_SEEN = ('IF_MATCH', 'IF_NONE_MATCH', 'IF_MODIFIED_SINCE', 'IF_UNMODIFIED_SINCE',
         'IF_RANGE', 'RANGE')


@condition(etag_func=lambda request: 'django-v1',
           last_modified_func=lambda request: datetime.datetime(
               2024, 10, 1, 10, 0, tzinfo=datetime.timezone.utc))
def resource(request):
    if request.method in ('GET', 'HEAD'):
        response = HttpResponse('the resource\n', content_type='text/plain')
    else:
        response = HttpResponse('%s, %d bytes\n' % (request.method, len(request.body)),
                                content_type='text/plain')
    response['X-Seen-Preconditions'] = '; '.join(
        '%s=%s' % (n, request.META['HTTP_' + n]) for n in _SEEN if 'HTTP_' + n in request.META)
    return response
