# SPEC §10: nginx's companion headers X-Accel-Buffering and X-Accel-Charset,
# for X-SendFile, X-Accel-Redirect targets and streamed pipes; like the
# trigger headers they never reach the client (t/headers.t sends them along
# with every status and failure; X-Accel-Limit-Rate is t/ratelimit.t's,
# X-Accel-Expires t/cache.t's).
#
# X-Accel-Buffering: no is timed by a client that inflates what it gets as
# it comes: the backend writes 4095 bytes, pauses 3 s, writes one more,
# and mod_deflate compresses.  The first bytes must be readable before the
# pause ends.  What already holds without the header is labelled so.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Compress::Raw::Zlib qw(WANT_GZIP_OR_ZLIB Z_OK Z_STREAM_END);
use IO::Socket::INET;
use Socket ();
use Time::HiRes qw(time sleep);
use XSF::Test;

my $port = port();
my $error_log = Apache::Test::vars('t_logs') . '/error_log';
my $tmp = docroot() . '/tmp';
my $txt = make_file('xaccel/notes.txt', 3000);
my $n = 0;

# GET with Accept-Encoding: gzip; the body is de-chunked and inflated as it
# arrives.  Returns {status, headers, body (inflated), first: seconds until
# $want bytes of it were readable, total: seconds until the end}.
sub inflating_get {
    my ($path, $want) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!";
    binmode $sock;
    my $t0 = time;
    print $sock raw_request($path, 'Accept-Encoding' => 'gzip', Connection => 'close');
    my ($raw, $head, %h, $status, $inflate) = ('');
    my ($body, $chunked, $left, $first, $done) = ('', 0, undef, undef, 0);
    while (!$done && sysread($sock, my $buf, 65536)) {
        $raw .= $buf;
        if (!defined $head) {
            next unless $raw =~ s/^(.*?)\r\n\r\n//s;
            $head = $1;
            ($status) = $head =~ m{^HTTP/\S+ (\d+)};
            $h{lc $1} = $2 while $head =~ /^([^:\r\n]+):\s*([^\r\n]*)/mg;
            $chunked = ($h{'transfer-encoding'} // '') =~ /chunked/i;
            $inflate = Compress::Raw::Zlib::Inflate->new(-WindowBits => WANT_GZIP_OR_ZLIB)
                if ($h{'content-encoding'} // '') eq 'gzip';
        }
        my $data = '';
        if ($chunked) {
            while (1) {
                if (!defined $left) {
                    last unless $raw =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//;
                    $left = hex $1;
                    if ($left == 0) { $done = 1; last }
                }
                my $take = substr($raw, 0, $left, '');
                $data .= $take;
                $left -= length $take;
                last if $left > 0;
                last unless $raw =~ s/^\r\n//;
                $left = undef;
            }
        }
        else {
            ($data, $raw) = ($raw, '');
        }
        if ($inflate && length $data) {
            my $st = $inflate->inflate($data, my $out);
            die "inflate: $st" unless $st == Z_OK || $st == Z_STREAM_END;
            $body .= $out;
        }
        elsif (!$inflate) {
            $body .= $data;
        }
        $first //= time - $t0 if length $body >= $want;
    }
    close $sock;
    return { status => $status, headers => \%h, body => $body, first => $first,
             total => time - $t0 };
}

sub accel { my ($target, @more) = @_; backend_url('cgi', accel => $target, @more) }

plan tests => 40;

# ---------------------------------------------------------- X-Accel-Buffering
my $paused = 'xsf.cgi?body=4096&chunk=4096&pause=3';
for my $case (['a CGI', "/internal-cgi-deflate/$paused", 0],
              ['a proxied backend', "/remote-deflate/$paused", 1]) {
    my ($what, $target, $flushes_anyway) = @$case;
    my $r = inflating_get(accel($target, hdr => 'X-Accel-Buffering: no'), 4095);
    is($r->{status}, 200, "X-Accel-Redirect to $what behind mod_deflate, X-Accel-Buffering: no: 200");
    is($r->{headers}{'content-encoding'}, 'gzip', "... compressed by mod_deflate");
    ok(defined $r->{first} && $r->{first} < 2.5 && $r->{total} >= 3,
       sprintf('... the first 4095 bytes after %.2f s, before the 3 s pause ended (all after %.2f s)',
               $r->{first} // -1, $r->{total}));
    is($r->{body}, 'b' x 4096, '... all of it, inflated');
    ok(!exists $r->{headers}{'x-accel-buffering'}, '... X-Accel-Buffering does not reach the client');
    $r = inflating_get(accel($target), 4095);
    if ($flushes_anyway) {
        # mod_proxy_http flushes whenever its backend pauses.
        ok(defined $r->{first} && $r->{first} < 2.5,
           sprintf('without the header, mod_proxy_http flushes at the pause anyway: %.2f s',
                   $r->{first} // -1));
    }
    else {
        ok(defined $r->{first} && $r->{first} >= 3,
           sprintf('without the header mod_deflate holds the bytes until the end: %.2f s '
                   . '(the case under test)', $r->{first} // -1));
    }
}

# A pipe through mod_deflate.
my $pipe = "$tmp/xaccel-" . $$ . '-' . $n++ . '.pipe';
my $r = inflating_get(backend_url('cgi-stream-deflate', pipe => $pipe, psize => 1 << 20,
                                  pstall_after => 1 << 19, pstall => 3,
                                  hdr => 'X-Accel-Buffering: no'), 1 << 19);
# (The module flushes every piece of a stream it passes, with the header or
# without: this holds either way.)
ok(defined $r->{first} && $r->{first} < 2.5 && $r->{total} >= 3,
   sprintf('pipe behind mod_deflate, X-Accel-Buffering: no: the first 512 KiB after %.2f s, '
           . 'before the producer paused 3 s (holds without the header too)', $r->{first} // -1));
is($r->{body}, stream_bytes(1 << 20), 'pipe behind mod_deflate: all of it, inflated');

# A pipe, X-Accel-Buffering: no: nothing is read ahead of the client, so a
# producer of 48 MiB does not finish while the client has read 1 MiB (it
# does without the header: t/stream.t's elastic test, repeated here).
for my $buffering ('no', undef) {
    my $done = "$tmp/xaccel-done-$$";
    unlink $done;
    my $size = 48 << 20;
    my $url = backend_url('cgi-stream', pipe => "$tmp/xaccel-" . $$ . '-' . $n++ . '.pipe',
                          psize => $size, pdone => $done,
                          defined $buffering ? (hdr => "X-Accel-Buffering: $buffering") : ());
    my $sock = Apache::TestRequest::vhost_socket();
    setsockopt($sock, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 65536);
    print $sock raw_request($url);
    my $got = '';
    while (length $got < (1 << 20)) {
        my $k = sysread($sock, my $buf, 65536);
        last unless $k;
        $got .= $buf;
    }
    my $finished = 0;
    for (1 .. 50) {
        last if ($finished = -e $done);
        sleep 0.1;
    }
    my $res = read_response($sock, \$got);
    close $sock;
    if (defined $buffering) {
        ok(!$finished, 'pipe, X-Accel-Buffering: no: the 48 MiB producer is held to the client\'s pace');
        ok($res && $res->{body} eq stream_bytes($size), '... and the client then gets all 48 MiB');
        ok($res && !exists $res->{headers}{'x-accel-buffering'}, '... no X-Accel-Buffering header');
    }
    else {
        ok($finished, 'pipe without the header: the producer ran ahead into the buffer (the case under test)');
    }
    unlink $done;
}

# ---------------------------------------------------------- X-Accel-Charset
my $res = GET backend_url('cgi', file => $txt, hdr => 'X-Accel-Charset: koi8-r');
is($res->header('Content-Type'), 'text/plain; charset=koi8-r', 'X-SendFile, type from the name: charset added');
ok($res->content eq file_bytes($txt), '... the file');
ok(!defined $res->header('X-Accel-Charset'), '... X-Accel-Charset does not reach the client');
$res = GET backend_url('cgi', file => $txt, ctype => 'text/plain; charset=utf-8; format="a;b"',
                       hdr => 'X-Accel-Charset: ISO-8859-1');
is($res->header('Content-Type'), 'text/plain; format="a;b"; charset=ISO-8859-1',
   'X-SendFile, the backend\'s type: its charset replaced, its other parameters kept');
$res = GET backend_url('cgi', file => $txt);
is($res->header('Content-Type'), 'text/plain', 'without the header the type stays as it was');
$res = GET accel('/protected/plain.txt', hdr => 'X-Accel-Charset: windows-1251');
is($res->header('Content-Type'), 'text/plain; charset=windows-1251', 'X-Accel-Redirect to a static file: charset');
is($res->content, "in the store\n", '... the target\'s bytes');
$res = GET accel('/remote/plain.txt', hdr => 'X-Accel-Charset: windows-1251');
is($res->header('Content-Type'), 'text/plain; charset=windows-1251',
   'X-Accel-Redirect to a proxied store: charset on the type the store sent');
$res = GET accel('/protected/plain.txt', ctype => 'text/csv', hdr => 'X-Accel-Charset: utf-8');
is($res->header('Content-Type'), 'text/csv; charset=utf-8', 'X-Accel-Redirect: on the backend\'s type');
($res) = raw_exchange(raw_request(backend_url('cgi-stream', pipe => "$tmp/xaccel-" . $$ . '-' . $n++ . '.pipe',
                                              psize => 1000, ctype => 'text/csv',
                                              hdr => 'X-Accel-Charset: utf-8'), Connection => 'close'));
is($res->{headers}{'content-type'}[0], 'text/csv; charset=utf-8', 'a streamed pipe: charset');
is(length $res->{body}, 1000, '... the stream');

# Values that are not a charset name are ignored, and said so.
for my $bad ('utf 8', 'utf-8; x=y', 'utf-8,koi8-r') {
    my $offset = error_log_size();
    $res = GET backend_url('cgi', file => $txt, hdr => "X-Accel-Charset: $bad");
    is($res->header('Content-Type'), 'text/plain', "X-Accel-Charset '$bad': ignored");
    like(error_log_since($offset), qr/XSF0019: X-Accel-Charset '\Q$bad\E'/, "X-Accel-Charset '$bad': XSF0019");
}
my $offset = error_log_size();
$res = GET backend_url('cgi', file => $txt, hdr => 'X-Accel-Buffering: maybe');
ok($res->code == 200 && $res->content eq file_bytes($txt), "X-Accel-Buffering: maybe: the file all the same");
like(error_log_since($offset), qr/XSF0019: X-Accel-Buffering 'maybe'/, 'X-Accel-Buffering: maybe: XSF0019');

# Without a trigger the X-Accel-* headers are stripped and nothing else
# changes: they only say how to send what a trigger names.
$res = GET backend_url('cgi', body => 5, ctype => 'text/plain', hdr => 'X-Accel-Charset: koi8-r',
                       hdr => 'X-Accel-Buffering: no', hdr => 'X-Accel-Limit-Rate: 1',
                       hdr => 'X-Accel-Expires: off');
is($res->header('Content-Type'), 'text/plain', 'no trigger: X-Accel-Charset changes nothing');
is($res->content, 'bbbbb', 'no trigger: the backend\'s body, not held back');
ok(!grep({ defined $res->header($_) } qw(X-Accel-Charset X-Accel-Buffering X-Accel-Limit-Rate X-Accel-Expires)),
   'no trigger: the X-Accel-* headers are stripped all the same (SPEC §2)');

# The bytes the producer of t/cgi-bin/xsf.cgi writes.
sub stream_bytes {
    my $size = shift;
    my ($out, $i) = ('', 0);
    while (length $out < $size) {
        $out .= sprintf("%015d\n", $i++) x 4096;
    }
    return substr($out, 0, $size);
}
