# The demo backend: a tiny download portal under mod_wsgi.  It decides who
# may download what; Apache sends the bytes (X-SendFile).
import html
import os
import unicodedata
from urllib.parse import parse_qs, quote

PROTECTED = os.environ.get('XSF_DEMO_FILES', '/srv/protected')
TOKEN = 'letmein'


def content_disposition(name):
    """RFC 6266: filename*= carries the real (UTF-8) name; filename= an ASCII
    stand-in for clients that read only that one (curl -OJ, old browsers):
    accents dropped, any other non-ASCII character, quote or backslash
    replaced by '_'."""
    plain = ''.join(c for c in unicodedata.normalize('NFKD', name)
                    if not unicodedata.combining(c))
    plain = ''.join(c if ' ' <= c <= '~' and c not in '"\\' else '_' for c in plain)
    return 'attachment; filename="%s"; filename*=UTF-8\'\'%s' % (plain, quote(name, safe=''))


def application(environ, start_response):
    q = parse_qs(environ.get('QUERY_STRING', ''))
    name = q.get('name', [''])[0]
    if not name:
        rows = ''.join(
            '<li><a href="download?name=%s&amp;token=%s">%s</a> '
            '(<a href="download?name=%s">without the token</a>)</li>'
            % (quote(n), TOKEN, html.escape(n), quote(n))
            for n in sorted(os.listdir(PROTECTED)))
        body = ('<h1>mod_xsendfile demo</h1><p>The backend checks the token; '
                'Apache serves the file with X-SendFile.</p><ul>%s</ul>' % rows)
        start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8')])
        return [body.encode()]
    if q.get('token', [''])[0] != TOKEN:
        start_response('403 Forbidden', [('Content-Type', 'text/plain')])
        return [b'no token, no file\n']
    # Percent-encoded UTF-8 reaches the right file whatever its name.
    start_response('200 OK', [
        ('X-SendFile', quote(name)),
        ('Content-Disposition', content_disposition(name)),
    ])
    return [b'']
