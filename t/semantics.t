# SPEC §5: a file served through X-SendFile answers every request exactly as
# Apache's own static serving of the same file does: status, validators,
# ranges, conditionals, HEAD.  Each case runs against the static URL and
# against each backend, and the responses are compared.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use HTTP::Date qw(time2str);
use XSF::Test;

my $path = make_file('semantics/data.txt', 100_000);
my $hour_ago = (stat $path)[9];

my $static = '/files/semantics/data.txt';
my %backends = (
    cgi   => backend_url('cgi', file => $path),
    proxy => backend_url('proxy', file => $path),
    wsgi  => backend_url('wsgi', file => $path),
    'wsgi-embedded' => backend_url('wsgi-embedded', file => $path),
    lua   => backend_url('lua', file => $path),
    # Werkzeug answers a Range itself with 206 and its own Content-Range.
    cgi206 => backend_url('cgi', file => $path, status => '206 Partial Content',
                          hdr => 'Content-Range: bytes 0-9/100000',
                          hdr => 'Content-Length: 10', body => 10),
    relative => backend_url('cgi', file => 'semantics/data.txt'),
);

my $first = GET $static;
my $etag = $first->header('ETag');
my $lastmod = $first->header('Last-Modified');
die "static ETag missing" unless $etag && $lastmod;

my @cases = (
    ['GET'],
    ['HEAD'],
    ['single range', Range => 'bytes=0-99'],
    ['open range', Range => 'bytes=99000-'],
    ['suffix range', Range => 'bytes=-500'],
    ['multiple ranges', Range => 'bytes=0-9,50-59,1000-1099'],
    ['unsatisfiable range', Range => 'bytes=200000-'],
    ['If-None-Match match', 'If-None-Match' => $etag],
    ['If-None-Match other', 'If-None-Match' => '"other"'],
    ['If-Match other', 'If-Match' => '"other"'],
    ['If-Match match', 'If-Match' => $etag],
    ['If-Modified-Since', 'If-Modified-Since' => $lastmod],
    ['If-Modified-Since old', 'If-Modified-Since' => time2str($hour_ago - 86400)],
    ['If-Unmodified-Since old', 'If-Unmodified-Since' => time2str($hour_ago - 86400)],
    ['If-Range etag', 'If-Range' => $etag, Range => 'bytes=10-19'],
    ['If-Range other', 'If-Range' => '"other"', Range => 'bytes=10-19'],
    ['If-Range date', 'If-Range' => $lastmod, Range => 'bytes=10-19'],
    ['HEAD with range', Range => 'bytes=0-99'],
);

my @compared = qw(Content-Type Content-Length Content-Range ETag
                  Last-Modified Accept-Ranges);

sub fetch {
    my ($name, $url, @h) = @_;
    return $name =~ /^HEAD/ ? HEAD($url, @h) : GET($url, @h);
}

sub normalise {
    my ($res) = @_;
    my %h = map { $_ => scalar $res->header($_) } @compared;
    my $body = $res->content;
    if (($h{'Content-Type'} // '') =~ /boundary=(\S+)/) {
        my $b = $1;
        $h{'Content-Type'} =~ s/\Q$b\E/BOUNDARY/;
        $body =~ s/\Q$b\E/BOUNDARY/g;
        delete $h{'Content-Length'};   # the boundary's length may differ
    }
    return (\%h, $body);
}

plan tests => @cases * keys(%backends) * 4;

for my $case (@cases) {
    my ($name, @h) = @$case;
    my $want = fetch($name, $static, @h);
    my ($want_h, $want_body) = normalise($want);
    for my $kind (sort keys %backends) {
        my $got = fetch($name, $backends{$kind}, @h);
        my ($got_h, $got_body) = normalise($got);
        is($got->code, $want->code, "$kind, $name: status " . $want->code);
        is_deeply($got_h, $want_h, "$kind, $name: headers as static");
        ok($got_body eq $want_body, "$kind, $name: body as static ("
           . length($want_body) . " bytes)")
            or diag "got " . length($got_body) . " bytes: "
                    . substr($got_body, 0, 200);
        ok(!defined $got->header('X-SendFile'), "$kind, $name: no X-SendFile");
    }
}
