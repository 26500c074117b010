# SPEC §5 and §8 over HTTP/2 (h2c, mod_http2): the same status, headers and
# bytes as HTTP/1.1 static serving; a streamed pipe arrives as DATA frames.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Digest::SHA ();
use XSF::Test;

my $file = make_file('h2/data.txt', 200_000);
my $static = '/files/h2/data.txt';
my $base = 'http://127.0.0.1:' . port();
my $tmp = docroot() . '/tmp';

# One request with curl over h2c: (exit code, status, {lc header => value}, body).
sub h2 {
    my ($url, @headers) = @_;
    my $out = "$tmp/h2-body-$$";
    my @cmd = ('curl', '-s', '--http2-prior-knowledge', '-D', '-', '-o', $out,
               (map { ('-H', $_) } @headers), "$base$url");
    open my $fh, '-|', @cmd or die "curl: $!";
    local $/;
    my $head = <$fh> // '';
    close $fh;
    my $rc = $? >> 8;
    my ($status) = $head =~ m{^HTTP/2 (\d{3})}m;
    my %h;
    $h{lc $1} = $2 while $head =~ /^([A-Za-z-]+): ([^\r\n]*)/mg;
    my $body = -e $out ? file_bytes($out) : '';
    unlink $out;
    return ($rc, $status // 0, \%h, $body);
}

my $etag = GET($static)->header('ETag');
my @cases = (
    ['GET'],
    ['Range', 'Range: bytes=10-99'],
    ['suffix Range', 'Range: bytes=-100'],
    ['If-None-Match', "If-None-Match: $etag"],
    ['If-Match other', 'If-Match: "other"'],
);
my @compared = qw(content-type content-length content-range etag last-modified accept-ranges);

plan tests => @cases * 2 * 4 + 5;

for my $case (@cases) {
    my ($name, @h) = @$case;
    my ($wrc, $wstatus, $wh, $wbody) = h2($static, @h);
    for my $kind (qw(cgi wsgi)) {
        my ($rc, $status, $h, $body) = h2(backend_url($kind, file => $file, body => 5000), @h);
        is($status, $wstatus, "h2, $kind, $name: status $wstatus as static");
        is_deeply({ map { $_ => $h->{$_} } @compared }, { map { $_ => $wh->{$_} } @compared },
                  "h2, $kind, $name: headers as static");
        ok($body eq $wbody, "h2, $kind, $name: body as static");
        ok(!exists $h->{'x-sendfile'}, "h2, $kind, $name: no X-SendFile");
    }
}

# A named pipe over HTTP/2: DATA frames ended by END_STREAM, byte-exact.
my $size = 20 << 20;
my $pipe = "$tmp/h2-$$.pipe";
my ($rc, $status, $h, $body) = h2(backend_url('cgi-stream', pipe => $pipe, psize => $size));
is($rc, 0, 'h2 stream: curl succeeds (END_STREAM seen)');
is($status, 200, 'h2 stream: 200');
ok(!exists $h->{'content-length'}, 'h2 stream: no Content-Length');
is(length $body, $size, 'h2 stream: all bytes');
is(Digest::SHA::sha256_hex($body), stream_sha256($size), 'h2 stream: byte-exact');
unlink $pipe;
