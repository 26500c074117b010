# Issue 6: "your framework's documented X-Sendfile switch just works on
# Apache".  Each framework runs its own, unmodified code path for file
# offload (t/frameworks/, configured in t/conf/frameworks.conf.in), and the
# client must get the file: byte-exact body, status, the file's
# Content-Length, no trigger header, and ranges and 304s where they apply.
# Without the module every one of the offloading cases gets an empty body
# (or the frameworks' header on the wire), so none of them can pass.
#
# This file is UTF-8 and works on bytes (no `use utf8`): file names are the
# UTF-8 bytes a file system holds.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use MIME::Base64 qw(decode_base64);
use XSF::Test;

my %file;    # name => path
for ([ 'report.pdf', 70_000 ], [ 'café.txt', 3_000 ], [ '€ 東京.txt', 4_000 ],
     [ '100% café.txt', 2_500 ], [ '100%41 €.txt', 1_500 ]) {
    my ($name, $size) = @$_;
    $file{$name} = make_file("fw/$name", $size);
}

my %static;  # name => Apache's own response for the file
for my $name (keys %file) {
    $static{$name} = GET '/files/fw/' . qenc($name);
    die "static /files/fw/$name: " . $static{$name}->status_line
        unless $static{$name}->code == 200 && $static{$name}->header('ETag');
}

my @TRIGGERS = qw(X-SendFile X-SendFile-Temporary X-SendFile-Encoding X-Accel-Redirect);

sub no_triggers {
    my ($res, $what) = @_;
    my @leaked = grep { defined $res->header($_) } @TRIGGERS;
    ok(!@leaked, "$what: no trigger header reaches the client") or diag "leaked: @leaked";
}

# The whole file, as Apache serves it: status, bytes, length, no trigger.
sub is_file {
    my ($res, $name, $what) = @_;
    my $want = file_bytes($file{$name});
    is($res->code, 200, "$what: 200");
    ok($res->content eq $want, "$what: the file's bytes")
        or diag sprintf 'got %d bytes: %.60s', length $res->content, $res->content;
    is($res->header('Content-Length'), length $want, "$what: Content-Length is the file's");
    no_triggers($res, $what);
}

# Range, 304 and HEAD on one URL that serves $name.
sub semantics {
    my ($url, $name, $what, $etag) = @_;
    my $want = file_bytes($file{$name});
    my $size = length $want;

    my $res = GET($url, Range => 'bytes=100-199');
    is($res->code, 206, "$what, Range: 206");
    ok($res->content eq substr($want, 100, 100), "$what, Range: the right bytes");
    is($res->header('Content-Range'), "bytes 100-199/$size", "$what, Range: Content-Range");
    is($res->header('Content-Length'), 100, "$what, Range: Content-Length of the range");
    no_triggers($res, "$what, Range");

    $res = GET($url, Range => 'bytes=-50');
    is($res->code, 206, "$what, suffix Range: 206");
    ok($res->content eq substr($want, -50), "$what, suffix Range: the last 50 bytes");

    $res = GET($url, 'If-None-Match' => $etag);
    is($res->code, 304, "$what, If-None-Match $etag: 304");
    is($res->content, '', "$what, 304: no body");
    no_triggers($res, "$what, 304");

    $res = GET($url, 'If-None-Match' => '"something-else"');
    is($res->code, 200, "$what, If-None-Match other: 200");
    ok($res->content eq $want, "$what, If-None-Match other: the file");

    $res = HEAD $url;
    is($res->code, 200, "$what, HEAD: 200");
    is($res->header('Content-Length'), $size, "$what, HEAD: Content-Length is the file's");
    is($res->content, '', "$what, HEAD: no body");
    no_triggers($res, "$what, HEAD");
}

# The offload header exactly as the framework put it on the wire, read
# where XSendFile is Off (HEAD: the frameworks announce the file's length
# but send no body).
sub raw_trigger {
    my ($url, $header) = @_;
    my ($r) = raw_exchange(raw_request($url, method => 'HEAD', Connection => 'close'));
    return $r && $r->{headers}{lc $header} ? $r->{headers}{lc $header}[0] : '';
}

# ---------------------------------------------------------------- Django
# django-sendfile2's xsendfile backend (response['X-Sendfile'] = path) and
# nginx backend (X-Accel-Redirect to SENDFILE_URL), under mod_wsgi daemon.
{
    my $fw = docroot() . '/files/fw';
    # What Django itself sends: ISO-8859-1 where the name fits, else RFC 2047.
    my $raw = raw_trigger('/raw-django/xsendfile?name=' . qenc('café.txt'), 'X-Sendfile');
    is($raw, "$fw/caf\xE9.txt", 'Django sends café as ISO-8859-1 bytes (the case under test)');
    $raw = raw_trigger('/raw-django/xsendfile?name=' . qenc('€ 東京.txt'), 'X-Sendfile');
    my ($b64) = $raw =~ /^=\?utf-8\?b\?([A-Za-z0-9+\/=]+)\?=$/;
    ok(defined $b64 && decode_base64($b64) eq "$fw/€ 東京.txt",
       'Django sends € 東京 as one RFC 2047 word (the case under test)') or diag "got: $raw";

    for my $name ('report.pdf', 'café.txt', '€ 東京.txt') {
        my $url = '/django/xsendfile?name=' . qenc($name);
        my $res = GET $url;
        is_file($res, $name, "Django X-Sendfile $name");
        is($res->header('ETag'), $static{$name}->header('ETag'), "Django X-Sendfile $name: the file's ETag");
        like($res->header('Content-Disposition') // '', qr/^attachment; filename=/,
             "Django X-Sendfile $name: Content-Disposition passes");

        $res = GET '/django/accel?name=' . qenc($name);
        is_file($res, $name, "Django X-Accel-Redirect $name");
        is($res->header('ETag'), $static{$name}->header('ETag'),
           "Django X-Accel-Redirect $name: the file's ETag");
    }
    my $res = GET '/django/xsendfile?name=report.pdf';
    is($res->header('Content-Type'), 'application/pdf', "Django: the view's Content-Type");
    semantics('/django/xsendfile?name=report.pdf', 'report.pdf', 'Django X-Sendfile',
              $static{'report.pdf'}->header('ETag'));
    semantics('/django/accel?name=' . qenc('€ 東京.txt'), '€ 東京.txt', 'Django X-Accel-Redirect',
              $static{'€ 東京.txt'}->header('ETag'));
}

# ----------------------------------------------------------------- Flask
# USE_X_SENDFILE = True and send_from_directory(); Werkzeug sets its own
# ETag (kept, XSendFileIgnoreEtag Off) and answers ranges itself with 206.
{
    my $fw = docroot() . '/files/fw';
    my $raw = raw_trigger('/raw-flask/download?name=' . qenc('café.txt'), 'X-Sendfile');
    is($raw, "$fw/caf\xE9.txt", 'Werkzeug sends café as ISO-8859-1 bytes (the case under test)');
    my ($r) = raw_exchange(raw_request('/raw-flask/download?name=report.pdf', Range => 'bytes=100-199',
                                       method => 'HEAD', Connection => 'close'));
    is($r->{status}, 206, 'Werkzeug answers a Range itself with 206 (the case under test)');

    for my $name ('report.pdf', 'café.txt') {
        my $url = '/flask/download?name=' . qenc($name);
        my $res = GET $url;
        is_file($res, $name, "Flask $name");
        like($res->header('ETag') // '', qr/^"[^"]+"$/, "Flask $name: an ETag (Werkzeug's)");
        is($res->header('Accept-Ranges'), 'bytes', "Flask $name: Accept-Ranges");
    }
    my $url = '/flask/download?name=report.pdf';
    my $first = GET $url;
    is($first->header('Content-Type'), 'application/pdf', "Flask: send_file's Content-Type");
    semantics($url, 'report.pdf', 'Flask', $first->header('ETag'));

    my $want = file_bytes($file{'report.pdf'});
    my $res = GET($url, 'If-Modified-Since' => $first->header('Last-Modified'));
    is($res->code, 304, 'Flask, If-Modified-Since its Last-Modified: 304');
    $res = GET($url, Range => 'bytes=100-199', 'If-Range' => '"not-it"');
    is($res->code, 200, 'Flask, If-Range mismatch: the whole file');
    ok($res->content eq $want, 'Flask, If-Range mismatch: its bytes');
}

# ------------------------------------------------------------------- PHP
# header('X-Sendfile: ' . $path) with raw UTF-8 and a literal '%'.
{
    for my $name ('100% café.txt', '€ 東京.txt', '100%41 €.txt', 'report.pdf') {
        my $res = GET '/fw-php/download.php?name=' . qenc($name);
        is_file($res, $name, "PHP $name");
        is($res->header('ETag'), $static{$name}->header('ETag'), "PHP $name: the file's ETag");
    }
    my $res = GET '/fw-php/download.php?name=' . qenc('100% café.txt');
    is($res->header('Content-Type'), 'text/plain; charset=utf-8', "PHP: the script's Content-Type");
    is($res->header('Content-Disposition'), "attachment; filename*=UTF-8''100%25%20caf%C3%A9.txt",
       'PHP: Content-Disposition passes');
    semantics('/fw-php/download.php?name=' . qenc('100% café.txt'), '100% café.txt', 'PHP',
              $static{'100% café.txt'}->header('ETag'));
}

# --------------------------------------------------------------- Symfony
# BinaryFileResponse::trustXSendfileTypeHeader() and prepare(): offloads
# only when the request says X-Sendfile-Type, which the module announces.
{
    for my $name ('report.pdf', '€ 東京.txt') {
        my $url = '/fw-php/symfony.php?name=' . qenc($name);
        my $res = GET $url;
        is_file($res, $name, "Symfony $name");
        is($res->header('X-App-Sendfile-Type'), 'X-Sendfile', "Symfony $name: the app was told X-Sendfile");
        is($res->header('X-App-Offloaded'), 'yes', "Symfony $name: the app offloaded (sent no body)");
        is($res->header('ETag'), $static{$name}->header('ETag'), "Symfony $name: the file's ETag");
        like($res->header('Content-Disposition') // '', qr/^attachment; filename=download\.bin; filename\*=utf-8''/,
             "Symfony $name: Content-Disposition passes");
    }
    my $url = '/fw-php/symfony.php?name=report.pdf';
    semantics($url, 'report.pdf', 'Symfony', $static{'report.pdf'}->header('ETag'));
    my $res = GET($url, Range => 'bytes=100-199');
    is($res->header('X-App-Offloaded'), 'yes', 'Symfony, Range: offloaded too (the module ranges)');

    # A client must not pick the offload mode (the Rack CVE-2025-61780 class).
    $res = GET($url, 'X-Sendfile-Type' => 'X-Accel-Redirect', 'X-Accel-Mapping' => '/=/etc/');
    is_file($res, 'report.pdf', "Symfony, client's X-Sendfile-Type: X-Accel-Redirect");
    is($res->header('X-App-Sendfile-Type'), 'X-Sendfile', "Symfony: the module's announcement, not the client's");

    # XSendFileAnnounce Off: Symfony streams the file itself, ranges included.
    my $quiet = '/fw-php-quiet/symfony.php?name=report.pdf';
    my $want = file_bytes($file{'report.pdf'});
    $res = GET $quiet;
    is_file($res, 'report.pdf', 'Symfony, XSendFileAnnounce Off');
    is($res->header('X-App-Sendfile-Type'), 'none', 'Symfony, XSendFileAnnounce Off: not told');
    is($res->header('X-App-Offloaded'), 'no', 'Symfony, XSendFileAnnounce Off: streamed by PHP');
    ok(!defined $res->header('ETag'), 'Symfony, XSendFileAnnounce Off: no ETag (not served by the module)');
    $res = GET($quiet, 'X-Sendfile-Type' => 'X-Sendfile');
    is($res->header('X-App-Sendfile-Type'), 'none', "Symfony, XSendFileAnnounce Off: the client's header is stripped");
    is($res->header('X-App-Offloaded'), 'no', "Symfony, XSendFileAnnounce Off: the client cannot switch offload on");
    ok($res->content eq $want, 'Symfony, XSendFileAnnounce Off: still the file');
    $res = GET($quiet, Range => 'bytes=100-199');
    is($res->code, 206, 'Symfony, XSendFileAnnounce Off, Range: 206 from Symfony');
    ok($res->content eq substr($want, 100, 100), 'Symfony, XSendFileAnnounce Off, Range: the right bytes');
}

# ------------------------------------------------------------------ Rack
# Rack::Files behind Rack::Sendfile (X-Sendfile, and X-Accel-Redirect with
# a mapping), Rack::Handler::CGI.  Rack sends Content-Length: 0.
{
    for my $name ('report.pdf', '€ 東京.txt') {
        my $res = GET '/rack/x/' . qenc($name);
        is_file($res, $name, "Rack X-Sendfile $name");
        is($res->header('ETag'), $static{$name}->header('ETag'), "Rack X-Sendfile $name: the file's ETag");

        $res = GET '/rack/accel/' . qenc($name);
        is_file($res, $name, "Rack X-Accel-Redirect $name");
    }
    my $res = GET '/rack/x/report.pdf';
    is($res->header('Content-Type'), 'application/pdf', "Rack: Rack::Files' Content-Type");
    is($res->header('Last-Modified'), $static{'report.pdf'}->header('Last-Modified'),
       'Rack: Last-Modified');
    # Rack::Files answers the Range itself (206 + X-Sendfile); the module recomputes.
    semantics('/rack/x/report.pdf', 'report.pdf', 'Rack X-Sendfile', $static{'report.pdf'}->header('ETag'));
    semantics('/rack/accel/' . qenc('€ 東京.txt'), '€ 東京.txt', 'Rack X-Accel-Redirect',
              $static{'€ 東京.txt'}->header('ETag'));
}

# The internal location behind the X-Accel-Redirect backends is closed to clients.
is(GET('/fw-protected/report.pdf')->code, 404, '/fw-protected/ answers clients 404');

done_testing();
