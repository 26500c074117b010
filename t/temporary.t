# SPEC §2: X-SendFile-Temporary serves the file and deletes it once the
# response is over, also when the client went away; only under a root
# marked AllowFileDelete, else 403 and nothing is deleted.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Time::HiRes qw(sleep);
use XSF::Test;

my $tmpdir = docroot() . '/tmp';

# Deletion happens in a cleanup of the request, just after the response
# went out; wait for it a bounded while.
sub gone_within {
    my ($path, $seconds) = @_;
    for (1 .. $seconds * 10) {
        return 1 unless -e $path;
        sleep 0.1;
    }
    return !-e $path;
}

plan tests => 8;

my $tmp = make_file('report-1.txt', 4000, $tmpdir);
my $want = file_bytes($tmp);
my $res = GET backend_url('cgi', tmp => $tmp, body => 100);
is($res->code, 200, 'temporary file: 200');
ok($res->content eq $want, 'temporary file: its bytes');
ok(gone_within($tmp, 10), 'temporary file: deleted after the response');

my $kept = make_file('temporary/keep.txt', 100);
$res = GET backend_url('cgi', tmp => $kept);
is($res->code, 403, 'X-SendFile-Temporary outside an AllowFileDelete root: 403');
ok(-e $kept, '... and the file is still there');

# A client that reads 1 MB of a 64 MB temporary file and hangs up.
my $big = make_file('big-temporary.bin', 64 << 20, $tmpdir);
my $sock = Apache::TestRequest::vhost_socket();
print $sock raw_request(backend_url('cgi', tmp => $big));
my $got = 0;
while ($got < (1 << 20)) {
    my $n = sysread($sock, my $buf, 65536);
    last unless $n;
    $got += $n;
}
ok($got >= (1 << 20), 'aborting client read 1 MB first');
close $sock;
ok(gone_within($big, 30), 'client aborted mid-transfer: the file is deleted all the same');

$res = GET '/files/hello.txt';
is($res->code, 200, 'the server keeps serving');
