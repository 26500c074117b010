# SPEC §7: X-Accel-Redirect makes an internal redirect, as nginx does, so a
# backend written for nginx runs unchanged; XSendFileInternal locations are
# 404 to clients and reachable only that way.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD POST);
use XSF::Test;

my $store = docroot() . '/store';
my $want = file_bytes(make_file('file name.txt', 3000, $store));

plan tests => 36;

my $static_url = '/store-direct/file%20name.txt';
my $static = GET $static_url;
is($static->code, 200, 'the store itself serves the file (baseline)');

for my $kind (qw(cgi proxy wsgi)) {
    my $res = GET backend_url($kind, accel => '/protected/file%20name.txt', body => 999);
    is($res->code, 200, "$kind: X-Accel-Redirect to a static Alias: 200");
    ok($res->content eq $want, "$kind: the target's bytes, not the backend's body");
    ok(!defined $res->header('X-Accel-Redirect'), "$kind: no X-Accel-Redirect reaches the client");
}

# The headers that describe the download survive the redirect, whichever
# table the backend put them in (CGI: err_headers_out; proxy, WSGI: headers_out).
for my $kind (qw(cgi proxy wsgi)) {
    my $res = GET backend_url($kind, accel => '/protected/plain.txt',
                              ctype => 'application/x-report',
                              hdr => 'Content-Disposition: attachment; filename="r.txt"');
    is($res->header('Content-Disposition'), 'attachment; filename="r.txt"',
       "$kind: Content-Disposition kept across the redirect");
    is($res->header('Content-Type'), 'application/x-report',
       "$kind: the backend's Content-Type beats the target's guess");
}

my $res = GET '/protected/file%20name.txt';
is($res->code, 404, 'XSendFileInternal: a client asking directly gets 404');
$res = GET '/remote/plain.txt';
is($res->code, 404, 'XSendFileInternal on a proxied location: 404 to clients');

my $url = backend_url('cgi', accel => '/protected/file%20name.txt');
$res = GET($url, Range => 'bytes=0-5');
is($res->code, 206, "the client's Range applies to the target");
is($res->content, substr($want, 0, 6), '... with the right bytes');
$res = GET($url, 'If-None-Match' => $static->header('ETag'));
is($res->code, 304, "the client's If-None-Match applies to the target");
$res = HEAD $url;
is($res->code, 200, 'HEAD stays HEAD: 200');
is($res->content, '', '... without a body');
is($res->header('Content-Length'), length $want, '... with the target\'s length');
$res = POST $url, content => 'a=b';
is($res->code, 200, 'POST to the backend: the target is fetched with GET');
ok($res->content eq $want, '... and served');

$res = GET backend_url('cgi', accel => '/remote/plain.txt');
is($res->code, 200, 'target behind mod_proxy: 200');
is($res->content, "in the store\n", '... its bytes');
$res = GET(backend_url('cgi', accel => '/remote/plain.txt'), Range => 'bytes=3-7');
is($res->code, 206, 'target behind mod_proxy: Range applies');

# POST with a body to the backend: the target is asked with GET and no body
# (else a CGI target would wait for a body that was already read).
$res = POST backend_url('cgi', accel => '/internal-cgi/xsf.cgi?body=3'), content => 'x=1';
# (The backend's own X-Seen-Method: POST travels along in err_headers_out.)
is((split /,\s*/, $res->header('X-Seen-Method'))[-1], 'GET', 'POST: the target sees GET');
is($res->content, 'bbb', '... and answers');

$res = GET backend_url('cgi', accel => '/internal-cgi/xsf.cgi?body=7');
is($res->content, 'bbbbbbb', 'the query string is kept');

for my $bad ('protected/plain.txt', '/protected/../files/hello.txt',
             '/protected/%2e%2e/files/hello.txt', '/protected/a%00b') {
    $res = GET backend_url('cgi', accel => $bad);
    is($res->code, 404, "refused with 404: $bad");
}
