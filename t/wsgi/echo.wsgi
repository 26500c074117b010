# A WSGI application that evaluates nothing itself: it answers every method
# with validators of its own and says which conditional request headers
# arrived (t/transparent.t).
NAMES = ('IF_MATCH', 'IF_NONE_MATCH', 'IF_MODIFIED_SINCE', 'IF_UNMODIFIED_SINCE',
         'IF_RANGE', 'RANGE')


def application(environ, start_response):
    seen = '; '.join('%s=%s' % (n, environ['HTTP_' + n]) for n in NAMES
                     if 'HTTP_' + n in environ)
    length = int(environ.get('CONTENT_LENGTH') or 0)
    body = environ['wsgi.input'].read(length) if length else b''
    out = ('%s, %d bytes\n' % (environ['REQUEST_METHOD'], len(body))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('ETag', '"wsgi-v1"'),
                              ('Last-Modified', 'Tue, 01 Oct 2024 10:00:00 GMT'),
                              ('X-Seen-Preconditions', seen)])
    return [out]
