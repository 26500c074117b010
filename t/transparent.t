# SPEC §5, "invisible where it does not act": a response that carries no
# trigger header is exactly what it would be with XSendFile Off, for every
# method and backend, and the handler sees every request header the client
# sent (preconditions included).  Each backend is configured twice, under
# /tr-on/ and /tr-off/ (t/conf/transparent.conf.in); every request of the
# corpus goes to both and the answers are compared: status, headers (Date,
# connection and framing headers aside), body.  The backends echo the conditional
# headers they received, which shows each one reached them.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Date qw(time2str);
use HTTP::Request;
use XSF::Test;

my $php = start_php_fcgi();
make_file('page.txt', 5000, docroot() . '/transparent');

my %backends = (
    static => 'static/page.txt',
    cgi    => 'cgi/app.cgi',
    wsgi   => 'wsgi',
    django => 'django/resource',
    proxy  => 'proxy/app.cgi',
    fcgi   => 'fcgi/app.php',
);
my @methods = qw(GET HEAD POST PUT DELETE);
# Date and connection headers differ by nature.  How a CGI body is framed
# (Content-Length or not) depends on how its output happened to arrive:
# the framing is left aside and the bodies are compared instead.
my @ignored = qw(Date Keep-Alive Connection Content-Length Transfer-Encoding);

my $ua = Apache::TestRequest::user_agent(keep_alive => 0, reset => 1);
my $base = 'http://' . Apache::TestRequest::hostport();

sub fetch {
    my ($method, $path, @headers) = @_;
    my $body = $method =~ /^(POST|PUT)$/ ? 'name=value' : '';
    my $req = HTTP::Request->new($method, "$base$path", [@headers], $body);
    $req->header('Content-Type' => 'application/x-www-form-urlencoded') if $body;
    return $ua->request($req);
}

# What a client sees: status, headers except the ignored ones, body.
sub seen {
    my $res = shift;
    my %h;
    for my $name ($res->headers->header_field_names) {
        next if grep { lc $_ eq lc $name } @ignored;
        next if $name =~ /^Client-/;          # LWP's own notes
        $h{lc $name} = join ', ', $res->headers->header($name);
    }
    return { status => $res->code, headers => \%h, body => $res->content };
}

sub headers_text {
    my $h = shift->{headers};
    return join "\n", map { "$_: $h->{$_}" } sort keys %$h;
}

sub same {
    my ($x, $y) = @_;
    return $x->{status} == $y->{status} && headers_text($x) eq headers_text($y)
        && $x->{body} eq $y->{body};
}

# The conditional requests, with values that match the backend's own
# validators (read from an unconditional GET where XSendFile is Off).
sub corpus {
    my ($etag, $lastmod) = @_;
    my $past = time2str(time - 10 * 365 * 86400);
    my $future = time2str(time + 86400);
    return (
        ['none'],
        ['If-Match match', 'If-Match' => $etag],
        ['If-Match mismatch', 'If-Match' => '"not-it"'],
        ['If-Match *', 'If-Match' => '*'],
        ['If-None-Match match', 'If-None-Match' => $etag],
        ['If-None-Match mismatch', 'If-None-Match' => '"not-it"'],
        ['If-None-Match *', 'If-None-Match' => '*'],
        ['If-Modified-Since its Last-Modified', 'If-Modified-Since' => $lastmod],
        ['If-Modified-Since past', 'If-Modified-Since' => $past],
        ['If-Modified-Since future', 'If-Modified-Since' => $future],
        ['If-Unmodified-Since past', 'If-Unmodified-Since' => $past],
        ['If-Unmodified-Since future', 'If-Unmodified-Since' => $future],
        ['If-Range with Range', 'If-Range' => $etag, Range => 'bytes=0-3'],
        ['Range', Range => 'bytes=0-3'],
    );
}

# Every request first, then the plan and the verdicts: how many echo
# checks there are depends on which answers reached the handler.
my (@checks, $differences);
sub check { push @checks, [@_] }

check($php, 'php-cgi listens');
for my $kind (sort keys %backends) {
    my $first = fetch('GET', "/tr-off/$backends{$kind}");
    my ($etag, $lastmod) = ($first->header('ETag') // '"none"',
                            $first->header('Last-Modified') // time2str(0));
    for my $method (@methods) {
        for my $case (corpus($etag, $lastmod)) {
            my ($name, @headers) = @$case;
            my $what = "$kind, $method, $name";
            my ($on, $off);
            # httpd applies a Range to a dynamic response only when the
            # whole body came in its first brigade, which depends on
            # timing, with the module or without.  A pair that differs is
            # asked again; a difference the module makes shows every time.
            for (1 .. 5) {
                $on = seen(fetch($method, "/tr-on/$backends{$kind}", @headers));
                $off = seen(fetch($method, "/tr-off/$backends{$kind}", @headers));
                last if same($on, $off);
            }
            my $same_headers = headers_text($on) eq headers_text($off);
            check($on->{status} == $off->{status}, "$what: status $off->{status} as with XSendFile Off",
                  "XSendFile On gave $on->{status}");
            check($same_headers, "$what: the same headers",
                  "On:\n" . headers_text($on) . "\nOff:\n" . headers_text($off));
            check($on->{body} eq $off->{body}, "$what: the same body",
                  'On: ' . substr($on->{body}, 0, 80) . "\nOff: " . substr($off->{body}, 0, 80));
            $differences += grep { !$_->[0] } @checks[-3 .. -1];
            # Where the handler answered, it received each conditional
            # header, value intact (a framework's own 304 or 412 does not
            # run the view, and says nothing).
            next if $kind eq 'static' || !@headers || $on->{status} >= 300;
            my $echo = $on->{headers}{'x-seen-preconditions'} // '';
            my @missing = grep { index($echo, $_) < 0 }
                map { (uc $headers[2 * $_] =~ tr/-/_/r) . "=$headers[2 * $_ + 1]" } 0 .. $#headers / 2;
            check(!@missing, "$what: the handler saw the client's headers",
                  "missing: @missing; saw: $echo");
        }
    }
}

plan tests => scalar @checks;
for my $c (@checks) {
    my ($ok, $name, $why) = @$c;
    ok($ok, $name) or diag $why // '';
}
diag "$differences differences between XSendFile On and Off" if $differences;
