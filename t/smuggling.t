# SPEC §7: a request body the backend did not read is read and discarded
# before an X-Accel-Redirect, so that it can never be parsed as the next
# request on the connection.  mod_asis never reads a body (and answers only
# GET, so the body rides on a GET): a client hiding a second request in the
# body of a first must get one response, and the hidden request must never
# reach the server.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use IO::Select;
use XSF::Test;

my $access_log = Apache::Test::vars('t_logs') . '/access_log';
my $store = "in the store\n";
my $hello = file_bytes(files_dir() . '/hello.txt');

sub hidden_request { "GET /smuggled-$_[0] HTTP/1.1\r\nHost: localhost\r\n\r\n" }

sub with_length {
    my ($body) = @_;
    return "GET /asis/accel.asis HTTP/1.1\r\nHost: localhost\r\n"
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

sub chunked {
    my ($body) = @_;
    return "GET /asis/accel.asis HTTP/1.1\r\nHost: localhost\r\n"
         . "Transfer-Encoding: chunked\r\n\r\n"
         . sprintf('%x', length $body) . "\r\n$body\r\n0\r\n\r\n";
}

# Write all of $wire at once (pipelined), read $n responses, then see
# whether anything more arrives within two seconds.
sub exchange {
    my ($wire, $n) = @_;
    my $sock = Apache::TestRequest::vhost_socket() or die "no socket";
    binmode $sock;
    print $sock $wire;
    my ($buf, @responses) = ('');
    push @responses, read_response($sock, \$buf) for 1 .. $n;
    my $more = $buf;
    my $sel = IO::Select->new($sock);
    while ($sel->can_read(2)) {
        my $got = sysread($sock, my $chunk, 65536);
        last unless $got;
        $more .= $chunk;
    }
    close $sock;
    return (\@responses, $more);
}

sub logged { my $re = shift; open my $fh, '<', $access_log or return 0; grep { /$re/ } <$fh> }

plan tests => 4 * 4;

my @cases = (
    ['Content-Length body', with_length(hidden_request(1)), 1],
    ['chunked body', chunked(hidden_request(2)), 2],
);
for my $c (@cases) {
    my ($name, $wire, $i) = @$c;
    my ($res, $more) = exchange($wire, 1);
    is($res->[0] && $res->[0]{status}, 200, "$name: the redirect is answered");
    is($res->[0] && $res->[0]{body}, $store, "$name: with the target's bytes");
    is($more, '', "$name: no second response");
    sleep 1;
    ok(!logged(qr{/smuggled-$i\b}), "$name: the hidden request never reached the server");
}

# Keep-alive and pipelining: the real next request is answered, in order.
for my $c (['Content-Length body, pipelined', with_length('a=' . 'x' x 5000)],
           ['chunked body, pipelined', chunked('a=' . 'y' x 5000)]) {
    my ($name, $wire) = @$c;
    my ($res, $more) = exchange($wire . "GET /files/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", 2);
    is($res->[0] && $res->[0]{body}, $store, "$name: first, the redirect's target");
    is($res->[1] && $res->[1]{status}, 200, "$name: then the next request");
    is($res->[1] && $res->[1]{body}, $hello, "$name: with its own bytes");
    is($more, '', "$name: nothing else");
}
