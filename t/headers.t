# SPEC §2 and §5: which headers and status the client sees, for every
# backend status and outcome; trigger headers never reach the client.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use XSF::Test;

my $file = make_file('headers/report.pdf', 5000);
my $txt = make_file('headers/notes.txt', 100);
my $targz = make_file('headers/archive.tar.gz', 300);
my $want = file_bytes($file);
my $secret = docroot() . '/other/secret.txt';
my $unreadable = make_file('headers/root-only.txt', 10);
chmod 0600, $unreadable;
my $error_log = Apache::Test::vars('t_logs') . '/error_log';

sub log_size { -s $error_log // 0 }
sub log_since {
    my $offset = shift;
    open my $fh, '<', $error_log or return '';
    seek $fh, $offset, 0;
    local $/;
    return <$fh> // '';
}
sub no_triggers {
    my ($res, $what) = @_;
    my @leaked = grep { defined $res->header($_) }
        qw(X-SendFile X-SendFile-Temporary X-SendFile-Encoding X-Accel-Redirect
           X-Accel-Limit-Rate X-Accel-Buffering X-Accel-Charset X-Accel-Expires);
    ok(!@leaked, "$what: no trigger header reaches the client")
        or diag "leaked: @leaked";
}

# nginx's companion headers ride along on every response below (SPEC §10):
# they are trigger headers too, and never reach the client.
my @accel = (hdr => 'X-Accel-Limit-Rate: 0', hdr => 'X-Accel-Buffering: no',
             hdr => 'X-Accel-Charset: utf-8', hdr => 'X-Accel-Expires: off');

my @statuses = (
    # backend status, expected status, file as body?
    ['404 Not Found', 404, 1],
    ['503 Service Unavailable', 503, 1],
    ['500 Internal Server Error', 500, 1],
    ['201 Created', 201, 1],
    ['204 No Content', 204, 0],
    ['304 Not Modified', 304, 0],
);
my @failures = (
    # name, header value, status, log message id
    ['missing file', files_dir() . '/headers/missing.txt', 404, 'XSF0003'],
    ['outside every root', $secret, 403, 'XSF0004'],
    ['a directory', files_dir() . '/sub', 403, 'XSF0006'],
    ['climbing out with ..', files_dir() . '/../other/secret.txt', 403, 'XSF0004'],
    ['prefix trick /files vs /files2', files_dir() . '2/x.txt', 403, 'XSF0004'],
    # httpd runs as an unprivileged user: a root-only file is unreadable.
    ['permission denied', $unreadable, 403, 'XSF0005'],
    # SPEC §4: the decoding that yields a NUL is skipped; the raw name is missing
    ['a decoded NUL', files_dir() . '/hello.txt%00.pdf', 404, 'XSF0003'],
);

plan tests => @statuses * 3 + @failures * 10 + 3 * 6 + 30;

for my $kind (qw(cgi proxy wsgi)) {
    my $res = GET backend_url($kind, file => $file, ctype => 'application/x-custom',
                              hdr => 'Content-Disposition: attachment; filename="r.pdf"',
                              hdr => 'Set-Cookie: a=b; Path=/',
                              hdr => 'Cache-Control: private, max-age=60',
                              hdr => 'Content-Length: 0',
                              body => 17);
    is($res->code, 200, "$kind: 200");
    is($res->header('Content-Type'), 'application/x-custom', "$kind: backend's Content-Type kept");
    is($res->header('Content-Length'), 5000, "$kind: Content-Length is the file's, not the backend's 0");
    is($res->header('Content-Disposition'), 'attachment; filename="r.pdf"',
       "$kind: Content-Disposition passes");
    like(join(',', $res->header('Set-Cookie')), qr/a=b/, "$kind: Set-Cookie passes");
    is($res->header('Cache-Control'), 'private, max-age=60', "$kind: Cache-Control passes");
}

for my $s (@statuses) {
    my ($status, $code, $body) = @$s;
    my $res = GET backend_url('cgi', file => $file, status => $status, body => 11, @accel);
    is($res->code, $code, "backend $status: status kept");
    no_triggers($res, "backend $status");
    if ($body) {
        ok($res->content eq $want, "backend $status: the file is the body");
    }
    else {
        is($res->content, '', "backend $status: no body");
    }
}

for my $f (@failures) {
    my ($name, $value, $code, $id) = @$f;
    for my $kind (qw(cgi wsgi)) {
        my $offset = log_size();
        my $url = backend_url($kind, file => $value, body => 20, @accel);
        my $res = GET $url;
        my $what = "$kind, $name";
        is($res->code, $code, "$what: $code");
        no_triggers($res, $what);
        unlike($res->content, qr{/files|/other|secret|missing|Additionally},
               "$what: httpd's plain error page, no path in it");
        my $log = log_since($offset);
        like($log, qr/\[xsendfile:error\].*\Q$id\E/, "$what: logged as $id with the module's name");
        my ($uri) = $url =~ /^([^?]+)/;
        like($log, qr{\Q$uri\E}, "$what: the log names the request");
    }
}

# Content-Type from the file's name where the backend set none; a guessed
# Content-Encoding (mod_mime maps .gz to gzip) never describes a file sent as is.
my $res = GET backend_url('cgi', file => $file);
is($res->header('Content-Type'), 'application/pdf', 'no backend type: from the name (.pdf)');
$res = GET backend_url('cgi', file => $txt);
like($res->header('Content-Type'), qr{^text/plain}, 'no backend type: from the name (.txt)');
$res = GET backend_url('cgi', file => $targz, hdr => 'Content-Encoding: gzip');
ok(!defined $res->header('Content-Encoding'), '.tar.gz: no Content-Encoding');
ok($res->content eq file_bytes($targz), '.tar.gz: the bytes as stored');

# Validators: the file's own, unless the backend set some; the Ignore switches replace them.
my $static = GET '/files/headers/notes.txt';
$res = GET backend_url('cgi', file => $txt);
is($res->header('ETag'), $static->header('ETag'), 'ETag as static serving gives it');
is($res->header('Last-Modified'), $static->header('Last-Modified'), 'Last-Modified as static');
is($res->header('Accept-Ranges'), 'bytes', 'Accept-Ranges: bytes');
my @own = (hdr => 'ETag: "backend"', hdr => 'Last-Modified: Mon, 01 Jan 2001 00:00:00 GMT');
$res = GET backend_url('cgi', file => $txt, @own);
is($res->header('ETag'), '"backend"', "backend's ETag kept by default");
is($res->header('Last-Modified'), 'Mon, 01 Jan 2001 00:00:00 GMT', "backend's Last-Modified kept by default");
$res = GET backend_url('cgi-scoped', file => $txt, @own);
is($res->header('ETag'), $static->header('ETag'), 'XSendFileIgnoreEtag On: the file\'s ETag');
is($res->header('Last-Modified'), $static->header('Last-Modified'),
   'XSendFileIgnoreLastModified On: the file\'s mtime');
$res = GET backend_url('cgi', file => $txt, @own, 'If-None-Match' => '"backend"');
$res = GET(backend_url('cgi', file => $txt, @own), 'If-None-Match' => '"backend"');
is($res->code, 304, "a kept backend ETag is what If-None-Match is checked against");

# Other backends and header sources.
$res = GET '/asis/hello.asis';
is($res->content, "hello, world\n", 'mod_asis: the file, not the .asis body');
no_triggers($res, 'mod_asis');
$res = GET '/hdrset';
is($res->content, "hello, world\n", 'Header set X-SendFile: the named file');
no_triggers($res, 'Header set');
$res = GET '/htaccess/hello.asis';
is($res->content, "hello, world\n", '.htaccess XSendFile On');
$res = HEAD backend_url('cgi', file => $file);
is($res->header('Content-Length'), 5000, 'HEAD: Content-Length of the file');

# Where XSendFile is Off the header is not ours to act on: it passes.
$res = GET backend_url('backend', file => $file, body => 5);
is($res->content, 'bbbbb', 'XSendFile Off: the backend body');
ok(defined $res->header('X-SendFile'), 'XSendFile Off: the header is left alone');

# SPEC §2: the handler hears the module's announcement, never the client's
# choice of offload mode; every other header reaches it (§5).
$res = GET(backend_url('cgi'), 'X-Sendfile-Type' => 'X-Accel-Redirect',
           'X-Accel-Mapping' => '/=/etc/', 'If-None-Match' => '"x"');
is($res->header('X-Seen-Sendfile-Type'), 'X-Sendfile', 'the handler is told X-Sendfile-Type: X-Sendfile');
is($res->header('X-Seen-Accel-Mapping'), 'none', "a client's X-Accel-Mapping never reaches the handler");
is($res->header('X-Seen-Preconditions'), 'HTTP_IF_NONE_MATCH', 'the handler sees If-None-Match');
$res = GET(backend_url('cgi-noannounce'), 'X-Sendfile-Type' => 'X-Sendfile');
is($res->header('X-Seen-Sendfile-Type'), 'none', "XSendFileAnnounce Off: no announcement, and not the client's");
# nginx-style (SPEC §10): the type and the mapping from the configuration.
$res = GET(backend_url('cgi-announce-accel'), 'X-Sendfile-Type' => 'X-Sendfile',
           'X-Accel-Mapping' => '/=/etc/');
is($res->header('X-Seen-Sendfile-Type'), 'X-Accel-Redirect',
   'XSendFileAnnounce X-Accel-Redirect: the handler is told X-Sendfile-Type: X-Accel-Redirect');
is($res->header('X-Seen-Accel-Mapping'), files_dir() . '/=/protected-files/, /srv/a/=/a/',
   "XSendFileAccelMapping: the handler is told the configured pairs, not the client's");

# The handler itself fails after the header was parsed (a malformed CGI
# header line): httpd sends its own 500, and the trigger header, which CGI
# put in err_headers_out, must not ride along on it.
$res = GET backend_url('cgi', file => $file, hdr => 'a broken header line');
is($res->code, 500, 'a CGI with a malformed header: 500 from httpd');
no_triggers($res, 'httpd\'s own error page');

# `Header always set X-SendFile` on a response httpd generates itself (404).
$res = GET '/hdr-always/missing.txt';
is($res->code, 404, 'Header always set on httpd\'s 404: still 404');
no_triggers($res, 'Header always set on httpd\'s 404');
