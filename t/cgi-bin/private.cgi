#!/usr/bin/perl
# A download for logged-in users only, as a web application serves it: the
# cookie "session=ok" is the login, PATH_INFO is /CACHE-CONTROL/NAME where
# NAME is a file under the X-SendFile root and CACHE-CONTROL is "none" (no
# Cache-Control header) or the header's value, such as "public,max-age=60";
# /CACHE-CONTROL/xae=VALUE/NAME adds X-Accel-Expires: VALUE.  No query
# string, so that mod_cache would store the answer.
use strict;
use warnings;

my ($cc, $xae, $name) = ($ENV{PATH_INFO} // '') =~ m{^/([^/]+)/(?:xae=([^/]+)/)?(.+)$};
if (($ENV{HTTP_COOKIE} // '') !~ /\bsession=ok\b/ || !defined $name) {
    print "Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nlog in first\n";
    exit 0;
}
print "Cache-Control: $cc\r\n" if $cc ne 'none';
print "X-Accel-Expires: $xae\r\n" if defined $xae;
print "Content-Type: text/plain\r\nX-SendFile: $name\r\n\r\n";
