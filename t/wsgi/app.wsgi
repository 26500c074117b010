# Test backend under mod_wsgi (daemon mode), the same query protocol as
# t/cgi-bin/xsf.cgi.  WSGI header values are ISO-8859-1 strings, so a value
# is decoded from the query as UTF-8 bytes and passed on as Latin-1, which
# puts exactly those bytes on the wire.
from urllib.parse import parse_qsl


def application(environ, start_response):
    pairs = parse_qsl(environ.get('QUERY_STRING', ''), keep_blank_values=True,
                      encoding='latin-1')
    q = dict(pairs)
    headers = []
    names = {'ctype': 'Content-Type', 'file': 'X-SendFile',
             'tmp': 'X-SendFile-Temporary', 'accel': 'X-Accel-Redirect',
             'enc': 'X-SendFile-Encoding'}
    for key, name in names.items():
        if key in q:
            headers.append((name, q[key]))
    for key, value in pairs:
        if key == 'hdr':
            name, _, val = value.partition(':')
            headers.append((name.strip(), val.strip()))
    status = q.get('status', '200')
    start_response(status + ' X', headers)
    size = int(q.get('body', '0'))
    chunk = int(q.get('chunk', '4096'))

    def body():
        left = size
        while left > 0:
            n = min(chunk, left)
            yield b'w' * n
            left -= n
    return body()
