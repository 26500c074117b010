# A Flask app for t/frameworks.t: Flask's documented switch
# USE_X_SENDFILE, and send_file() / send_from_directory() as any app
# calls them.  Werkzeug then sends an empty body with
# 'X-Sendfile: <absolute path>', its own ETag and Last-Modified, and
# answers a Range itself with 206 (the module recomputes the response
# from the file; it hides If-* headers from the app and evaluates them).
import os
from urllib.parse import quote

from flask import Flask, request, send_from_directory

_T = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = os.path.join(_T, 'htdocs', 'files', 'fw')

app = Flask(__name__)
app.config['USE_X_SENDFILE'] = True


@app.route('/download')
def download():
    return send_from_directory(FILES, request.args['name'])


# Werkzeug puts the path into the header as it is, and WSGI headers are
# ISO-8859-1: a name outside Latin-1 ('€ 東京.txt') makes mod_wsgi fail
# the response (ValueError, 500), with or without mod_xsendfile.  Such an
# app percent-encodes the value and says so; the module decodes it.
@app.route('/download-any')
def download_any():
    response = send_from_directory(FILES, request.args['name'])
    response.headers['X-Sendfile'] = quote(response.headers['X-Sendfile'])
    response.headers['X-Sendfile-Encoding'] = 'url'
    return response
