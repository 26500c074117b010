# SPEC §5: the backend's body is discarded entirely, however large and in
# however many writes it comes; nothing follows the file on the wire, the
# keep-alive connection stays in sync, and a CGI script writing a large body
# is never left blocked on its pipe.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use XSF::Test;

my $file = make_file('body/file.txt', 30_000);
my $want = file_bytes($file);
my $hello = file_bytes(files_dir() . '/hello.txt');

my @sizes = (0, 200_000, 5_000_000);
my @kinds = qw(cgi proxy wsgi);
plan tests => @sizes * @kinds * 4 + 3;

for my $kind (@kinds) {
    for my $size (@sizes) {
        my $url = backend_url($kind, file => $file, body => $size, chunk => 100,
                              ctype => 'text/plain');
        my ($first, $second) = raw_exchange(raw_request($url),
                                            raw_request('/files/hello.txt'));
        my $what = "$kind, backend body of $size bytes in 100-byte writes";
        is($first && $first->{status}, 200, "$what: 200");
        ok($first && $first->{body} eq $want, "$what: exactly the file's bytes");
        is($second && $second->{status}, 200,
           "$what: the next request on the connection is answered");
        ok($second && $second->{body} eq $hello,
           "$what: ... with its own bytes, nothing left over from the backend");
    }
}

# A CGI script that writes 1 MB after its headers must get all of it out:
# the marker is created only after all but the last byte are written, so it
# exists by the time the response arrives only if the module kept reading.
my $marker = Apache::Test::vars('documentroot') . '/tmp/cgi-finished';
unlink $marker;
my ($res) = raw_exchange(raw_request(backend_url('cgi', file => $file,
                                                 body => 1_000_000,
                                                 marker => $marker)));
is($res->{status}, 200, 'CGI with a 1 MB body: 200');
ok($res->{body} eq $want, 'CGI with a 1 MB body: the file');
ok(-e $marker, 'CGI with a 1 MB body: the script wrote all of it before the response');
unlink $marker;
