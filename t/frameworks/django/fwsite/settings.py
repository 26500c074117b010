# A minimal Django project for t/frameworks.t: no database, no apps, only
# the views that hand a file to Apache.  mod_xsendfile serves the files
# from the suite's XSendFilePath root htdocs/files (this tree is t/, so
# the root is found relative to this file).
import os

_T = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

SECRET_KEY = 'mod_xsendfile test suite, not a secret'
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'fwsite.urls'
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True

# The settings django-sendfile2 reads (SENDFILE_ROOT, SENDFILE_URL): files
# below SENDFILE_ROOT are offered; the nginx-style backend maps them to
# the internal location SENDFILE_URL (t/conf/frameworks.conf.in).
SENDFILE_ROOT = os.path.join(_T, 'htdocs', 'files', 'fw')
SENDFILE_URL = '/fw-protected'
