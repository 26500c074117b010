# Issue 6: "your framework's documented X-Sendfile switch just works on
# Apache".  Each framework runs its own, unmodified code path for file
# offload (t/frameworks/, configured in t/conf/frameworks.conf.in), and the
# client must get the file: byte-exact body, status, the file's
# Content-Length, no trigger header, and ranges and 304s where they apply.
# Without the module the offloading cases get an empty body, the framework's
# header on the wire, or the framework's own streaming (Symfony, told
# nothing): every case below has assertions that then fail.  What passes
# anyway is labelled: checks that the framework really sends what is under
# test ("the case under test"), Symfony with XSendFileAnnounce Off, and
# Rack's Range and HEAD, which Rack 2.2 does not offload.  Flask's plain
# 304s would also come from Werkzeug itself; the future If-Modified-Since
# and If-Range cases show that Apache evaluates them.
#
# This file is UTF-8 and works on bytes (no `use utf8`): file names are the
# UTF-8 bytes a file system holds.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use HTTP::Date ();
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

# A response the application streamed itself (no offload): status, bytes,
# no trigger.  Apache frames a CGI's streamed body with chunked encoding
# whatever Content-Length the script said (XSendFile On or Off alike), so
# the length is not asserted here.
sub is_streamed {
    my ($res, $name, $what) = @_;
    is($res->code, 200, "$what: 200");
    ok($res->content eq file_bytes($file{$name}), "$what: the file's bytes");
    no_triggers($res, $what);
}

# Range, 304 and HEAD on one URL that serves $name; $offloaded, if given,
# checks on each 200/206 response that the application did offload.
sub semantics {
    my ($url, $name, $what, $etag, $offloaded) = @_;
    my $want = file_bytes($file{$name});
    my $size = length $want;
    $offloaded //= sub {};

    my $res = GET($url, Range => 'bytes=100-199');
    is($res->code, 206, "$what, Range: 206");
    ok($res->content eq substr($want, 100, 100), "$what, Range: the right bytes");
    is($res->header('Content-Range'), "bytes 100-199/$size", "$what, Range: Content-Range");
    is($res->header('Content-Length'), 100, "$what, Range: Content-Length of the range");
    no_triggers($res, "$what, Range");
    $offloaded->($res, "$what, Range");

    $res = GET($url, Range => 'bytes=-50');
    is($res->code, 206, "$what, suffix Range: 206");
    ok($res->content eq substr($want, -50), "$what, suffix Range: the last 50 bytes");
    is($res->header('Content-Length'), 50, "$what, suffix Range: Content-Length");
    no_triggers($res, "$what, suffix Range");
    $offloaded->($res, "$what, suffix Range");

    $res = GET($url, 'If-None-Match' => $etag);
    is($res->code, 304, "$what, If-None-Match $etag: 304");
    is($res->content, '', "$what, 304: no body");
    no_triggers($res, "$what, 304");

    $res = GET($url, 'If-None-Match' => '"something-else"');
    is($res->code, 200, "$what, If-None-Match other: 200");
    ok($res->content eq $want, "$what, If-None-Match other: the file");
    no_triggers($res, "$what, If-None-Match other");
    $offloaded->($res, "$what, If-None-Match other");

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

    my %type = ('report.pdf' => 'application/pdf', 'café.txt' => 'text/plain',
                '€ 東京.txt' => 'text/plain');
    for my $name ('report.pdf', 'café.txt', '€ 東京.txt') {
        for my $backend ('xsendfile', 'accel') {
            my $what = $backend eq 'accel' ? "Django X-Accel-Redirect $name" : "Django X-Sendfile $name";
            my $res = GET "/django/$backend?name=" . qenc($name);
            is_file($res, $name, $what);
            is($res->header('ETag'), $static{$name}->header('ETag'), "$what: the file's ETag");
            is($res->header('Content-Type'), $type{$name}, "$what: the view's Content-Type");
            like($res->header('Content-Disposition') // '', qr/^attachment; filename="/,
                 "$what: the view's Content-Disposition");
        }
    }
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

    my $etag;
    for my $name ('report.pdf', 'café.txt') {
        my $res = GET '/flask/download?name=' . qenc($name);
        is_file($res, $name, "Flask $name");
        like($res->header('ETag') // '', qr/^"[^"]+"$/, "Flask $name: an ETag (Werkzeug's)");
        is($res->header('Accept-Ranges'), 'bytes', "Flask $name: Accept-Ranges");
        is($res->header('Content-Type'), $name =~ /pdf/ ? 'application/pdf' : 'text/plain; charset=utf-8',
           "Flask $name: send_file's Content-Type");
        $etag = $res->header('ETag') if $name eq 'report.pdf';
    }
    my $url = '/flask/download?name=report.pdf';
    semantics($url, 'report.pdf', 'Flask', $etag);

    # The preconditions reach the application (SPEC §5), and Werkzeug
    # answers a future If-Modified-Since with 304 of its own, carrying its
    # validators: that answer stands, exactly as without the module.
    my $future = HTTP::Date::time2str(time + 86400);
    ($r) = raw_exchange(raw_request('/raw-flask/download?name=report.pdf', 'If-Modified-Since' => $future,
                                    Connection => 'close', method => 'HEAD'));
    is($r->{status}, 304, 'Werkzeug alone: 304 for a future If-Modified-Since (the case under test)');
    my $want = file_bytes($file{'report.pdf'});
    my $res = GET($url, 'If-Modified-Since' => $future);
    is($res->code, 304, "Flask, If-Modified-Since in the future: Werkzeug's own 304 stands");
    is($res->content, '', 'Flask, If-Modified-Since in the future: no body');
    $res = GET($url, 'If-Modified-Since' => $static{'report.pdf'}->header('Last-Modified'));
    is($res->code, 304, 'Flask, If-Modified-Since its Last-Modified: 304');
    no_triggers($res, 'Flask, If-Modified-Since');
    # A name outside Latin-1: percent-encoded by the app (see fwflask.py).
    $res = GET '/raw-flask/download?name=' . qenc('€ 東京.txt');
    is($res->code, 500, "Werkzeug's plain X-Sendfile cannot carry € 東京 under mod_wsgi (the case under test)");
    $res = GET '/flask/download-any?name=' . qenc('€ 東京.txt');
    is_file($res, '€ 東京.txt', 'Flask, percent-encoded X-Sendfile € 東京.txt');
    # If-Range is Apache's too: Werkzeug only sees the Range and answers 206.
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
        is($res->header('Content-Type'), 'text/plain; charset=utf-8', "PHP $name: the script's Content-Type");
        is($res->header('Content-Disposition'), "attachment; filename*=UTF-8''" . qenc($name),
           "PHP $name: the script's Content-Disposition");
    }
    semantics('/fw-php/download.php?name=' . qenc('100% café.txt'), '100% café.txt', 'PHP',
              $static{'100% café.txt'}->header('ETag'));
}

# --------------------------------------------------------------- Symfony
# BinaryFileResponse::trustXSendfileTypeHeader() and prepare(): offloads
# only when the request says X-Sendfile-Type, which the module announces.
# Without the announcement Symfony streams the file itself, so the proof of
# offload is the app's own report (X-App-Offloaded) and the file's ETag,
# which only Apache adds.
{
    my $offloaded = sub {
        my ($res, $what) = @_;
        is($res->header('X-App-Sendfile-Type'), 'X-Sendfile', "$what: the app was told X-Sendfile");
        is($res->header('X-App-Offloaded'), 'yes', "$what: the app offloaded (sent no body)");
    };
    for my $name ('report.pdf', '€ 東京.txt') {
        my $res = GET '/fw-php/symfony.php?name=' . qenc($name);
        is_file($res, $name, "Symfony $name");
        $offloaded->($res, "Symfony $name");
        is($res->header('ETag'), $static{$name}->header('ETag'), "Symfony $name: the file's ETag");
        is($res->header('Content-Type'), 'application/octet-stream', "Symfony $name: the app's Content-Type");
        like($res->header('Content-Disposition') // '', qr/^attachment; filename=download\.bin; filename\*=utf-8''/,
             "Symfony $name: the app's Content-Disposition");
    }
    my $url = '/fw-php/symfony.php?name=report.pdf';
    semantics($url, 'report.pdf', 'Symfony', $static{'report.pdf'}->header('ETag'), $offloaded);

    # A client must not pick the offload mode (the Rack CVE-2025-61780 class).
    my $res = GET($url, 'X-Sendfile-Type' => 'X-Accel-Redirect', 'X-Accel-Mapping' => '/=/etc/');
    is_file($res, 'report.pdf', "Symfony, client's X-Sendfile-Type: X-Accel-Redirect");
    $offloaded->($res, "Symfony, client's X-Sendfile-Type: X-Accel-Redirect");

    # XSendFileAnnounce Off: Symfony is not told, streams the file itself
    # (ranges included), and a client cannot tell it either.
    my $quiet = '/fw-php-quiet/symfony.php?name=report.pdf';
    my $want = file_bytes($file{'report.pdf'});
    $res = GET($quiet, 'X-Sendfile-Type' => 'X-Sendfile');
    is($res->header('X-App-Sendfile-Type'), 'none',
       "Symfony, XSendFileAnnounce Off: a client's X-Sendfile-Type is stripped");
    is($res->header('X-App-Offloaded'), 'no', 'Symfony, XSendFileAnnounce Off: streamed by PHP');
    is_streamed($res, 'report.pdf', 'Symfony, XSendFileAnnounce Off');
    ok(!defined $res->header('ETag'), 'Symfony, XSendFileAnnounce Off: no ETag (not served by Apache)');
    $res = GET($quiet, Range => 'bytes=100-199');
    is($res->code, 206, 'Symfony, XSendFileAnnounce Off, Range: 206 from Symfony');
    ok($res->content eq substr($want, 100, 100), 'Symfony, XSendFileAnnounce Off, Range: the right bytes');
    is($res->header('X-App-Offloaded'), 'no', 'Symfony, XSendFileAnnounce Off, Range: streamed by PHP');
}

# ------------------------------------------- Symfony, configured for nginx
# XSendFileAnnounce X-Accel-Redirect with XSendFileAccelMapping: the same
# script answers X-Accel-Redirect into /fw-protected/ (Symfony sends the
# mapped path as is, raw UTF-8 and spaces included), and Apache serves it.
{
    my $fw = docroot() . '/files/fw';
    my $offloaded = sub {
        my ($res, $what) = @_;
        is($res->header('X-App-Sendfile-Type'), 'X-Accel-Redirect', "$what: the app was told X-Accel-Redirect");
        is($res->header('X-App-Offloaded'), 'yes', "$what: the app offloaded (sent no body)");
    };
    my $raw = raw_trigger('/fw-php-quiet/symfony.php?name=report.pdf', 'X-Accel-Redirect');
    is($raw, '', 'Symfony sends no X-Accel-Redirect unless told to (the case under test)');
    for my $name ('report.pdf', '€ 東京.txt') {
        my $res = GET '/fw-php-nginx/symfony.php?name=' . qenc($name);
        is_file($res, $name, "Symfony nginx-style $name");
        $offloaded->($res, "Symfony nginx-style $name");
        is($res->header('ETag'), $static{$name}->header('ETag'), "Symfony nginx-style $name: the file's ETag");
        is($res->header('Content-Type'), 'application/octet-stream', "Symfony nginx-style $name: the app's Content-Type");
        like($res->header('Content-Disposition') // '', qr/^attachment; filename=download\.bin/,
             "Symfony nginx-style $name: the app's Content-Disposition");
    }
    my $url = '/fw-php-nginx/symfony.php?name=report.pdf';
    semantics($url, 'report.pdf', 'Symfony nginx-style', $static{'report.pdf'}->header('ETag'), $offloaded);

    # The request headers are the configuration's, never the client's.
    my $res = GET($url, 'X-Sendfile-Type' => 'X-Sendfile', 'X-Accel-Mapping' => '/=/etc/');
    is_file($res, 'report.pdf', "Symfony nginx-style, a client's X-Sendfile-Type and X-Accel-Mapping");
    $offloaded->($res, "Symfony nginx-style, a client's X-Sendfile-Type and X-Accel-Mapping");

    # XSendFileAnnounce X-Accel-Redirect without a mapping: Symfony would
    # throw (no X-Accel-Mapping), so nothing is announced, and the log says why.
    my $offset = error_log_size();
    $res = GET('/fw-php-nomap/symfony.php?name=report.pdf', 'X-Accel-Mapping' => "$fw/=/fw-protected/");
    is($res->header('X-App-Sendfile-Type'), 'none', 'Symfony, announcement without a mapping: not told');
    is_streamed($res, 'report.pdf', 'Symfony, announcement without a mapping: streamed by PHP');
    like(error_log_since($offset), qr/XSF0020: XSendFileAnnounce X-Accel-Redirect without XSendFileAccelMapping/,
         'Symfony, announcement without a mapping: XSF0020 in the log');
}

# ------------------------------------------------------------------ Rack
# Rack::Files behind Rack::Sendfile (X-Sendfile, and X-Accel-Redirect with
# a mapping), Rack::Handler::CGI.  Rack sends Content-Length: 0.
{
    for my $name ('report.pdf', '€ 東京.txt') {
        for my $kind ('x', 'accel') {
            my $what = $kind eq 'x' ? "Rack X-Sendfile $name" : "Rack X-Accel-Redirect $name";
            my $res = GET "/rack/$kind/" . qenc($name);
            is_file($res, $name, $what);
            is($res->header('ETag'), $static{$name}->header('ETag'), "$what: the file's ETag");
            is($res->header('Last-Modified'), $static{$name}->header('Last-Modified'),
               "$what: Last-Modified");
            is($res->header('Content-Type'), $name =~ /pdf/ ? 'application/pdf' : 'text/plain',
               "$what: Rack::Files' Content-Type");
        }
    }
    my $url = '/rack/x/report.pdf';
    my $want = file_bytes($file{'report.pdf'});
    for my $u ($url, '/rack/accel/' . qenc('€ 東京.txt')) {
        my $what = $u =~ /accel/ ? 'Rack X-Accel-Redirect' : 'Rack X-Sendfile';
        my $name = $u =~ /accel/ ? '€ 東京.txt' : 'report.pdf';
        my $etag = $static{$name}->header('ETag');
        my $res = GET($u, 'If-None-Match' => $etag);
        is($res->code, 304, "$what, If-None-Match $etag: 304");
        is($res->content, '', "$what, 304: no body");
        no_triggers($res, "$what, 304");
        # Rack::Files answers 304 only for its exact Last-Modified string;
        # Apache for any date not before the file's mtime.
        my $later = HTTP::Date::time2str((stat $file{$name})[9] + 60);
        $res = GET($u, 'If-Modified-Since' => $later);
        is($res->code, 304, "$what, If-Modified-Since a minute after the mtime: 304");
        no_triggers($res, "$what, If-Modified-Since");
        $res = GET($u, 'If-None-Match' => '"something-else"');
        is($res->code, 200, "$what, If-None-Match other: 200");
        ok($res->content eq file_bytes($file{$name}), "$what, If-None-Match other: the file");
        no_triggers($res, "$what, If-None-Match other");
    }
    # Rack 2.2's Rack::Files answers a Range itself from a body without
    # to_path, and HEAD with an empty one: Rack::Sendfile does not offload
    # them, and the module passes them through untouched.
    my $res = GET($url, Range => 'bytes=100-199');
    is($res->code, 206, 'Rack, Range (answered by Rack::Files, not offloaded): 206');
    ok($res->content eq substr($want, 100, 100), 'Rack, Range: the right bytes');
    is($res->header('Content-Range'), 'bytes 100-199/70000', 'Rack, Range: Content-Range');
    no_triggers($res, 'Rack, Range');
    $res = HEAD $url;
    is($res->code, 200, 'Rack, HEAD (not offloaded): 200');
    is($res->content, '', 'Rack, HEAD: no body');
}

# ---------------------------------------------- Rack, configured for nginx
# `use Rack::Sendfile, 'X-Accel-Redirect'` with no mapping of its own reads
# X-Accel-Mapping from the request, as behind nginx: XSendFileAccelMapping.
{
    my $fw = docroot() . '/files/fw';
    for my $name ('report.pdf', '€ 東京.txt') {
        my $res = GET '/rack/nginx/' . qenc($name);
        is_file($res, $name, "Rack nginx-style $name");
        is($res->header('ETag'), $static{$name}->header('ETag'), "Rack nginx-style $name: the file's ETag (Apache's)");
        is($res->header('Content-Type'), $name =~ /pdf/ ? 'application/pdf' : 'text/plain',
           "Rack nginx-style $name: Rack::Files' Content-Type");
    }
    my $etag = $static{'report.pdf'}->header('ETag');
    my $res = GET('/rack/nginx/report.pdf', 'If-None-Match' => $etag);
    is($res->code, 304, "Rack nginx-style, If-None-Match $etag: 304");
    no_triggers($res, 'Rack nginx-style, 304');
    # A client's mapping (into another location, or anywhere) is replaced.
    $res = GET('/rack/nginx/report.pdf', 'X-Accel-Mapping' => "$fw/=/files/fw/");
    is_file($res, 'report.pdf', "Rack nginx-style, a client's X-Accel-Mapping");
    is($res->header('ETag'), $etag, "Rack nginx-style, a client's X-Accel-Mapping: served from /fw-protected/ all the same");
    # Without XSendFileAccelMapping Rack cannot map, and streams the file itself.
    $res = GET '/rack-nomap/nginx/report.pdf';
    is_streamed($res, 'report.pdf', 'Rack nginx-style without XSendFileAccelMapping (the case under test)');
    ok(!defined $res->header('ETag'), 'Rack nginx-style without XSendFileAccelMapping: not offloaded (no ETag)');
    # ... and a client cannot supply the mapping there either.
    $res = GET('/rack-nomap/nginx/report.pdf', 'X-Accel-Mapping' => "$fw/=/fw-protected/");
    ok(!defined $res->header('ETag'), "Rack nginx-style without XSendFileAccelMapping: a client's mapping is not used");
}

# The internal location behind the X-Accel-Redirect backends is closed to clients.
is(GET('/fw-protected/report.pdf')->code, 404, '/fw-protected/ answers clients 404');

done_testing();
