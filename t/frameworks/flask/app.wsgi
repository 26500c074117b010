# mod_wsgi entry point: WSGIDaemonProcess python-path= names this directory.
from fwflask import app as application
