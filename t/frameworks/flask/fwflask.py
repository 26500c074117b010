# A Flask app for t/frameworks.t: Flask's documented switch
# USE_X_SENDFILE, and send_file() / send_from_directory() as any app
# calls them.  Werkzeug then sends an empty body with
# 'X-Sendfile: <absolute path>', its own ETag and Last-Modified, and
# answers a Range itself with 206 (the module recomputes the response
# from the file; it hides If-* headers from the app and evaluates them).
import os

from flask import Flask, request, send_from_directory

_T = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = os.path.join(_T, 'htdocs', 'files', 'fw')

app = Flask(__name__)
app.config['USE_X_SENDFILE'] = True


@app.route('/download')
def download():
    return send_from_directory(FILES, request.args['name'])
