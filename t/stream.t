# SPEC §8: a named pipe under a root is streamed as the producer writes it:
# chunked over HTTP/1.1, close-delimited over HTTP/1.0, no length, no
# ranges, no validators; buffered elastically so the producer is not held
# back by a slow client; aborted (truncated) when the producer stalls or
# the client leaves.  Real pipes, real producer processes (t/cgi-bin/xsf.cgi).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use Digest::SHA ();
use Socket ();
use Time::HiRes qw(sleep);
use XSF::Test;

my $tmp = docroot() . '/tmp';
my $base = 'http://127.0.0.1:' . port();
my $n = 0;

sub pipe_url {
    my %p = @_;
    my $name = "$tmp/stream-" . $$ . '-' . $n++ . '.pipe';
    return (backend_url('cgi-stream', pipe => $name, %p), $name);
}

# Wait a bounded while for a file to appear (or go).
sub within {
    my ($seconds, $cond) = @_;
    for (1 .. $seconds * 10) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return $cond->();
}

# curl into sha256sum; returns (curl's exit code, hex digest, header text).
sub curl_sha {
    my ($url, @opts) = @_;
    my $hdr = "$tmp/curl-headers-$$";
    my $shell_out = `bash -c "set -o pipefail; curl -s -D $hdr @opts '$base$url' | sha256sum"`;
    my $rc = $? >> 8;
    my ($sha) = $shell_out =~ /^([0-9a-f]{64})/;
    my $headers = -e $hdr ? file_bytes($hdr) : '';
    unlink $hdr;
    return ($rc, $sha // '', $headers);
}

# A process that has exited (a zombie waiting for init counts as exited).
sub gone {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    return ((<$fh> // '') =~ /^\d+ \(.*\) Z/) ? 1 : 0;
}

plan tests => 36;

my $gib = 1 << 30;
my $want = stream_sha256($gib);

# 1 GiB over HTTP/1.1: chunked, byte-exact.
my ($url) = pipe_url(psize => $gib);
my ($rc, $sha, $h) = curl_sha($url, '--http1.1');
is($rc, 0, 'HTTP/1.1, 1 GiB: curl succeeds');
is($sha, $want, 'HTTP/1.1, 1 GiB: SHA-256 matches the producer');
like($h, qr{^HTTP/1\.1 200}m, 'HTTP/1.1: 200');
like($h, qr{^Transfer-Encoding: chunked}mi, 'HTTP/1.1: chunked');
unlike($h, qr{^Content-Length:}mi, 'HTTP/1.1: no Content-Length');
like($h, qr{^Accept-Ranges: none}mi, 'Accept-Ranges: none');
unlike($h, qr{^(ETag|Last-Modified|X-SendFile):}mi, 'no validators, no trigger header');

# 1 GiB over HTTP/1.0: close-delimited.
($url) = pipe_url(psize => $gib);
($rc, $sha, $h) = curl_sha($url, '--http1.0');
is($rc, 0, 'HTTP/1.0, 1 GiB: curl succeeds');
is($sha, $want, 'HTTP/1.0, 1 GiB: SHA-256 matches the producer');
unlike($h, qr{^Transfer-Encoding:}mi, 'HTTP/1.0: not chunked');
unlike($h, qr{^Content-Length:}mi, 'HTTP/1.0: no Content-Length (close-delimited)');

# A Range request is answered with the whole stream.
my $small = 3_000_000;
($url) = pipe_url(psize => $small);
($rc, $sha, $h) = curl_sha($url, '-H', "'Range: bytes=0-99'");
like($h, qr{^HTTP/1\.1 200}m, 'Range on a stream: 200, not 206');
is($sha, stream_sha256($small), 'Range on a stream: the whole stream');

# Elastic buffer: a 48 MiB producer finishes while the client has read only
# 1 MiB, because the module keeps reading the pipe into its buffer (64M
# here).  Without it the producer would block once the pipe and the socket
# buffers (a few MiB) were full.
my $done = "$tmp/elastic-done-$$";
unlink $done;
my $size = 48 << 20;
($url) = pipe_url(psize => $size, pdone => $done);
my $sock = Apache::TestRequest::vhost_socket();
setsockopt($sock, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 65536);
print $sock raw_request($url);
my $got = '';
while (length $got < (1 << 20)) {
    my $r = sysread($sock, my $buf, 65536);
    last unless $r;
    $got .= $buf;
}
ok(length $got >= (1 << 20), 'slow client: read the first MiB');
ok(within(30, sub { -e $done }),
   'slow client: the producer finished writing 48 MiB meanwhile');
my $buf_ref = \$got;
my $res = read_response($sock, $buf_ref);
close $sock;
is($res && length $res->{body}, $size, 'slow client: then all 48 MiB arrive');
is($res && Digest::SHA::sha256_hex($res->{body}), stream_sha256($size),
   'slow client: byte-exact');
unlink $done;

# The producer stalls past XSendFileStreamTimeout (2 s here): the chunked
# body ends without its last chunk, which curl reports as exit code 18.
($url) = pipe_url(psize => 4 << 20, pstall_after => 1 << 20, pstall => 8);
($rc, $sha, $h) = curl_sha($url, '--http1.1');
is($rc, 18, 'producer stalls: the client sees a truncated body (curl 18)');
like($h, qr{^HTTP/1\.1 200}m, 'producer stalls: after a 200 that had begun');

# The client leaves mid-stream: the producer gets EPIPE, the server goes on.
my $epipe = "$tmp/epipe-$$";
unlink $epipe;
($url) = pipe_url(psize => $gib, pepipe => $epipe);
$sock = Apache::TestRequest::vhost_socket();
print $sock raw_request($url);
my $read = 0;
while ($read < (1 << 20)) {
    my $r = sysread($sock, my $b2, 65536);
    last unless $r;
    $read += $r;
}
close $sock;
ok($read >= (1 << 20), 'client leaves: it had read 1 MiB');
ok(within(30, sub { -e $epipe }), 'client leaves: the producer gets EPIPE');
unlink $epipe;
is(GET('/files/hello.txt')->code, 200, 'client leaves: the server keeps serving');

# Nobody ever writes to the pipe: the response fails within the timeout.
($url) = pipe_url(nowriter => 1);
$res = GET $url;
is($res->code, 504, 'a pipe with no writer: 504 once the timeout passes');
ok(!defined $res->header('X-SendFile'), 'a pipe with no writer: no trigger header');
is(GET('/files/hello.txt')->code, 200, 'no writer: the server keeps serving');

# Responses that end before the stream starts release the producer too,
# within XSendFileStreamTimeout (2 s here), also one that reaches open(2)
# only after the response is over (tar cf PIPE, pg_dump -f PIPE): the
# module keeps the read end until it comes, then closes it (EPIPE).
my $pipes = files_dir() . '/pipes';          # under a root without AllowFileDelete
mkdir $pipes;
chmod 0777, $pipes;
my @early = (
    ['HEAD', sub { HEAD $_[0] }, 200, $tmp],
    ['HEAD, producer opens 1 s later', sub { HEAD $_[0] }, 200, $tmp, pdelay => 1],
    ['X-SendFile-Temporary refused after the lookup, producer opens 1 s later',
     sub { GET $_[0] }, 403, $pipes, ptmp => 1, pdelay => 1],
    ['client gone before the first byte, producer opens 3 s later',
     sub { my $s = Apache::TestRequest::vhost_socket(); print $s raw_request($_[0]);
           sleep 0.5; close $s; undef }, undef, $tmp, pdelay => 3],
);
for my $e (@early) {
    my ($name, $request, $status, $dir, @p) = @$e;
    my $pidfile = "$tmp/producer-$$-" . $n;
    my $pipe = "$dir/early-$$-" . $n++ . '.pipe';
    unlink $epipe, $pidfile;
    my $res = $request->(backend_url('cgi-stream', pipe => $pipe, psize => $gib,
                                     pepipe => $epipe, ppid => $pidfile, @p));
    is($res->code, $status, "$name: $status") if defined $status;
    ok(within(10, sub { -e $epipe }), "$name: the producer is released (EPIPE)");
    my $pid = -e $pidfile ? file_bytes($pidfile) : 0;
    ok($pid && within(5, sub { gone($pid) }), "$name: the producer has exited");
    unlink $pipe, $pidfile;
}
unlink $epipe;
unlink glob "$tmp/stream-$$-*.pipe";
