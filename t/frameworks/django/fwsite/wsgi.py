# The WSGI entry point Django's startproject writes, unchanged.
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'fwsite.settings')

application = get_wsgi_application()
