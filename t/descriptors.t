# SPEC §5: every descriptor the module opens has one owner that closes it,
# whatever becomes of the response: complete, set aside by httpd for write
# completion (large files, slow clients), the client gone mid-transfer.
# Read from the children's /proc/PID/fd, as an administrator would.  Also
# a child held to 64 descriptors keeps serving, and a deleted
# X-SendFile-Temporary file is not held open (its disk space comes back).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use IO::Select;
use Time::HiRes qw(sleep);
use XSF::Test;

my $big = make_file('descriptors/big.bin', 16 << 20);
my $tmpdir = docroot() . '/tmp';

# Wait a bounded while for the children to close what they still send.
sub settled_descriptors {
    my ($re, @pids) = @_;
    my @open;
    for (1 .. 50) {
        @open = open_descriptors($re, @pids ? @pids : httpd_children());
        last unless @open;
        sleep 0.1;
    }
    return @open;
}

# A client that reads the whole response slowly, so that httpd sets the
# file aside and finishes the transfer by write completion.
sub slow_download {
    my ($url) = @_;
    my $sock = Apache::TestRequest::vhost_socket() or die "no socket";
    print $sock raw_request($url, Connection => 'close');
    my ($got, $sel) = (0, IO::Select->new($sock));
    while ($sel->can_read(30)) {
        my $n = sysread($sock, my $buf, 256 << 10);
        last unless $n;
        $got += $n;
        sleep 0.01;
    }
    close $sock;
    return $got;
}

# A client that reads the first bytes, then hangs up.
sub aborted_download {
    my ($url) = @_;
    my $sock = Apache::TestRequest::vhost_socket() or die "no socket";
    print $sock raw_request($url);
    sysread($sock, my $buf, 65536);
    close $sock;
}

plan tests => 10;

my $file_re = qr{/descriptors/big\.bin$};
my %kinds = (
    'EnableSendfile On' => backend_url('cgi', file => $big),
    'EnableSendfile Off, EnableMMAP Off' => backend_url('cgi-nomap', file => $big),
);
for my $kind (sort keys %kinds) {
    my $url = $kinds{$kind};
    my $ok = 0;
    for (1 .. 30) {
        my $res = GET $url;
        $ok++ if $res->code == 200 && length($res->content) == 16 << 20;
    }
    is($ok, 30, "$kind: 30 complete 16 MiB downloads");
    my @open = settled_descriptors($file_re);
    is(scalar @open, 0, "$kind: no descriptor of the file left open afterwards")
        or diag join "\n", @open[0 .. ($#open < 9 ? $#open : 9)];
}

my $slow = 0;
$slow += slow_download($kinds{'EnableSendfile On'}) > 16 << 20 for 1 .. 3;
aborted_download($kinds{'EnableSendfile On'}) for 1 .. 5;
is($slow, 3, 'slow clients: three whole downloads');
my @open = settled_descriptors($file_re);
is(scalar @open, 0, 'slow and aborting clients: no descriptor of the file left open')
    or diag join "\n", @open[0 .. ($#open < 9 ? $#open : 9)];

# Deleted X-SendFile-Temporary files: no child keeps one open.
for my $i (1 .. 5) {
    my $tmp = make_file("descriptors-tmp-$i.bin", 16 << 20, $tmpdir);
    GET backend_url('cgi', tmp => $tmp);
}
@open = settled_descriptors(qr{/descriptors-tmp-\d\.bin});
is(scalar @open, 0, 'X-SendFile-Temporary: deleted files are not held open (space freed)')
    or diag join "\n", @open;

# A server whose child may open 64 descriptors serves 150 large downloads:
# a leak of one per download would exhaust it.  (A second httpd, started
# here under `ulimit -n 64`: the suite's children cannot be limited from
# outside without ptrace rights.)
my $asis = docroot() . '/asis-limit';
make_asis($asis, 'big.asis', 'X-SendFile: descriptors/big.bin');
my $limited = start_httpd(name => 'nofile64', shell_prefix => 'ulimit -n 64', conf => <<"CONF");
DocumentRoot ${\docroot()}
EnableSendfile On
<Directory $asis>
    AddHandler send-as-is asis
    XSendFile On
    XSendFilePath ${\files_dir()}
    Require all granted
</Directory>
CONF
my $served = 0;
for (1 .. 150) {
    my $res = GET "http://127.0.0.1:$limited->{port}/asis-limit/big.asis";
    $served++ if $res->code == 200 && length($res->content) == 16 << 20;
}
my $limited_pid = $limited->{pid};
my @left = settled_descriptors($file_re, $limited_pid);
stop_httpd($limited);
is($served, 150, 'a child held to 64 descriptors: 150 large downloads served');
unlike(file_bytes($limited->{error_log}), qr/Too many open files|XSF0017/,
       '... and no "Too many open files" in its error log');
is(scalar @left, 0, '... and nothing left open');
