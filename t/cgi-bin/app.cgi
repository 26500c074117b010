#!/usr/bin/perl
# An application resource with validators of its own, answered the way a
# CGI application does (t/transparent.t): GET and HEAD without a Status
# line, so that httpd evaluates the client's preconditions against the
# ETag and Last-Modified below; PUT and DELETE check If-Match themselves,
# as an optimistic lock does; POST is answered.  Every response says which
# conditional request headers arrived (X-Seen-Preconditions).
use strict;
use warnings;

my $etag = '"cgi-v1"';
my $method = $ENV{REQUEST_METHOD} // 'GET';
my $seen = join '; ', map { my $v = $ENV{"HTTP_$_"}; defined $v ? "$_=$v" : () }
    qw(IF_MATCH IF_NONE_MATCH IF_MODIFIED_SINCE IF_UNMODIFIED_SINCE IF_RANGE RANGE);
local $/;
my $body = <STDIN> // '';

print "X-Seen-Preconditions: $seen\r\nContent-Type: text/plain\r\n";
if ($method eq 'GET' || $method eq 'HEAD') {
    print "ETag: $etag\r\nLast-Modified: Tue, 01 Oct 2024 10:00:00 GMT\r\n\r\n";
    print "the resource\n";
}
elsif ($method eq 'PUT' || $method eq 'DELETE') {
    my $if_match = $ENV{HTTP_IF_MATCH};
    if (defined $if_match && $if_match ne '*' && $if_match ne $etag) {
        print "Status: 412 Precondition Failed\r\n\r\nstale: not changed\n";
    }
    else {
        print "\r\n", $method eq 'PUT' ? "updated with " . length($body) . " bytes\n" : "deleted\n";
    }
}
else {
    print "\r\nposted " . length($body) . " bytes\n";
}
