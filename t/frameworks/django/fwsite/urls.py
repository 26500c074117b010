from django.urls import path

from . import views

urlpatterns = [
    path('xsendfile', views.download_xsendfile),
    path('accel', views.download_accel),
    path('resource', views.resource),
]
