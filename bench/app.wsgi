# The benchmark's WSGI backend (mod_wsgi daemon mode).  Directories come
# from SetEnv in the generated httpd configuration (bench/lib.sh).
#
#   /app/xsf?f=NAME     X-SendFile: DATA/NAME, no body
#   /app/read?f=NAME    the application sends DATA/NAME itself: a plain read
#                       loop, not wsgi.file_wrapper (which mod_wsgi would
#                       turn into sendfile, hiding what an app costs)
#   /app/temporary      a fresh copy of DATA/small.bin under TMP, handed over
#                       with X-SendFile-Temporary (the module deletes it)
#   /app/body           a small dynamic body, no X-SendFile
import os
import shutil
import tempfile
from urllib.parse import parse_qs

CHUNK = 65536


def read_loop(path):
    with open(path, 'rb') as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                return
            yield block


def application(environ, start_response):
    data = environ['XSF_BENCH_DATA']
    path = environ.get('PATH_INFO', '')
    name = parse_qs(environ.get('QUERY_STRING', '')).get('f', ['small.bin'])[0]
    if '/' in name:
        start_response('400 Bad Request', [('Content-Type', 'text/plain')])
        return [b'bad name\n']
    if path == '/xsf':
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('X-SendFile', os.path.join(data, name))])
        return [b'']
    if path == '/read':
        full = os.path.join(data, name)
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(os.path.getsize(full)))])
        return read_loop(full)
    if path == '/temporary':
        fd, tmp = tempfile.mkstemp(dir=environ['XSF_BENCH_TMP'], suffix='.bin')
        with os.fdopen(fd, 'wb') as out, open(os.path.join(data, 'small.bin'), 'rb') as src:
            shutil.copyfileobj(src, out)
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('X-SendFile-Temporary', tmp)])
        return [b'']
    if path == '/body':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'dynamic body from the application\n' * 32]
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such route\n']
