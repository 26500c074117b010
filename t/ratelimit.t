# SPEC §10, X-Accel-Limit-Rate: the client gets the response at that many
# bytes per second, for X-SendFile, X-Accel-Redirect and streamed pipes,
# ranges included, and a file still goes out by sendfile(2) (zero-copy).
#
# The rate is the client's: the whole transfer timed from the request to
# the last byte, against the limit within ±15 %.  The module's burst
# allowance is one slice, a tenth of a second's bytes, sent at once: 8 MiB
# at 1 MiB/s then take 7.9 s, not 8.
#
# Zero-copy is shown with strace in an httpd of its own started under it
# (ptrace of a running child may be refused; a process started by strace
# is always its own to trace): the file's bytes leave by sendfile, sliced,
# and no read(2) takes them into memory; with EnableSendfile Off the same
# count sees them read.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use XSF::Test;

my $mib = 1 << 20;
my $big = make_file('rate/big.bin', 8 * $mib);
my $want = file_bytes($big);
make_file('rate-big.bin', 4 * $mib, docroot() . '/store');
my $port = port();
my $error_log = Apache::Test::vars('t_logs') . '/error_log';

# The client's rate in MiB/s, and the verdict within ±15 % of $limit MiB/s.
sub rate_ok {
    my ($bytes, $seconds, $limit, $what) = @_;
    my $rate = $bytes / $mib / $seconds;
    ok($rate > 0.85 * $limit && $rate < 1.15 * $limit,
       sprintf('%s: %.3f MiB/s in %.2f s, within 15 %% of %g MiB/s', $what, $rate, $seconds, $limit));
    diag sprintf('%s: %d bytes in %.3f s = %.4f MiB/s', $what, $bytes, $seconds, $rate);
}

sub limit { return (hdr => "X-Accel-Limit-Rate: $_[0]") }

plan tests => 26;

# ---- X-SendFile: 8 MiB at 1 MiB/s ----
my ($t, $res) = timed_get($port, backend_url('cgi', file => $big, limit($mib)));
is($res->{status}, 200, 'X-SendFile at 1 MiB/s: 200');
ok($res->{body} eq $want, 'X-SendFile at 1 MiB/s: the 8 MiB, byte-exact');
rate_ok(length $res->{body}, $t, 1, 'X-SendFile, 8 MiB, X-Accel-Limit-Rate: 1048576');
ok(!exists $res->{headers}{'x-accel-limit-rate'}, 'X-Accel-Limit-Rate does not reach the client');

# Without the header the same download is not held back (the case under test).
($t, $res) = timed_get($port, backend_url('cgi', file => $big));
ok($res->{body} eq $want && $t < 3, sprintf('no X-Accel-Limit-Rate: 8 MiB in %.2f s', $t));
($t, $res) = timed_get($port, backend_url('cgi', file => $big, limit(0)));
ok($res->{body} eq $want && $t < 3, sprintf('X-Accel-Limit-Rate: 0 is unlimited: %.2f s', $t));

# A value that is not a number is ignored, and said so.
my $offset = error_log_size();
($t, $res) = timed_get($port, backend_url('cgi', file => $big, limit('1m')));
ok($res->{body} eq $want && $t < 3, sprintf("X-Accel-Limit-Rate: 1m is ignored: %.2f s", $t));
like(error_log_since($offset), qr/\[xsendfile:warn\].*XSF0019: X-Accel-Limit-Rate '1m'/,
     'X-Accel-Limit-Rate: 1m: XSF0019 in the log');

# ---- a range is cut first, then paced (the filter sits after byterange) ----
($t, $res) = timed_get($port, backend_url('cgi', file => $big, limit($mib)),
                       Range => 'bytes=1048576-3145727');
is($res->{status}, 206, 'Range at 1 MiB/s: 206');
ok($res->{body} eq substr($want, $mib, 2 * $mib), 'Range at 1 MiB/s: the 2 MiB asked for');
rate_ok(length $res->{body}, $t, 1, 'Range of 2 MiB, 1 MiB/s');
($t, $res) = timed_get($port, backend_url('cgi', file => $big, limit($mib)),
                       Range => 'bytes=0-99,-100');
is($res->{status}, 206, 'two ranges at 1 MiB/s: 206');
like($res->{headers}{'content-type'}[0], qr{^multipart/byteranges}, 'two ranges: multipart/byteranges');

# ---- X-Accel-Redirect: the target's response is paced ----
($t, $res) = timed_get($port, backend_url('cgi', accel => '/protected/rate-big.bin', limit(2 * $mib)));
is($res->{status}, 200, 'X-Accel-Redirect at 2 MiB/s: 200');
ok($res->{body} eq file_bytes(docroot() . '/store/rate-big.bin'), 'X-Accel-Redirect: the 4 MiB target');
rate_ok(length $res->{body}, $t, 2, 'X-Accel-Redirect, 4 MiB, 2 MiB/s');

# ---- a streamed pipe ----
my $pipe = docroot() . "/tmp/rate-$$.pipe";
($t, $res) = timed_get($port, backend_url('cgi-stream', pipe => $pipe, psize => 3 * $mib, limit($mib)));
is($res->{status}, 200, 'pipe at 1 MiB/s: 200');
is(length $res->{body}, 3 * $mib, 'pipe at 1 MiB/s: all 3 MiB');
rate_ok(length $res->{body}, $t, 1, 'pipe, 3 MiB, 1 MiB/s');

# ---- HTTP/2 (h2c): the same pacing on a stream of the connection ----
{
    my $url = 'http://127.0.0.1:' . $port . backend_url('cgi', file => $big, limit(2 * $mib));
    my $out = `curl -s --http2-prior-knowledge -o /dev/null -w '%{http_version} %{size_download} %{time_total}' '$url'`;
    my ($version, $size, $seconds) = split ' ', $out // '';
    is("$version $size", "2 " . 8 * $mib, 'HTTP/2 at 2 MiB/s: all 8 MiB over h2c');
    rate_ok($size // 0, $seconds || 1, 2, 'HTTP/2, 8 MiB, 2 MiB/s');
}

# ---- zero-copy: strace in an httpd of its own ----
SKIP: {
    my ($strace) = grep { -x } map { "$_/strace" } split(/:/, $ENV{PATH} // ''), '/usr/bin', '/bin';
    skip 'strace is not installed', 5 unless $strace;
    my $dir = Apache::Test::vars('t_logs') . '/httpd-rate-strace';
    my $asis = "$dir/asis";
    mkdir $dir;
    mkdir $asis;
    chmod 0777, $dir;
    for ([paced => 'X-Accel-Limit-Rate: 4194304'], ['plain']) {
        my ($name, @extra) = @$_;
        make_asis($asis, "$name.asis", 'Content-Type: application/octet-stream',
                  "X-SendFile: $big", @extra);
    }
    chmod 0755, $asis;
    chmod 0644, glob "$asis/*";
    my $mods = module_dir();
    # One httpd per download: strace writes its log out when httpd ends.
    my $traced = sub {
        my ($path) = @_;
        unlink "$dir/strace.out";
        my $httpd = start_httpd(name => 'rate-strace', wrapper => "$strace -f -qq -y -o $dir/strace.out "
                                     . '-e trace=sendfile,read,pread64,readv,preadv',
                                conf => <<"CONF");
EnableSendfile On
EnableMMAP Off
ScriptSock $dir/cgid.sock
XSendFilePath ${\files_dir()}
${\asis_conf('/asis/', $asis)}Alias /copied/ $asis/
<Location /copied/>
    EnableSendfile Off
</Location>
CONF
        my @got = timed_get($httpd->{port}, $path);
        stop_httpd($httpd);
        return (@got[0, 1], syscalls("$dir/strace.out", $big));
    };
    my ($t, $res, $paced) = $traced->('/asis/paced.asis');
    my ($t2, $res2, $copied) = $traced->('/copied/paced.asis');

    ok($res->{body} eq $want, sprintf('under strace, 4 MiB/s: the 8 MiB in %.2f s', $t));
    # The core reads a piece of a file too small for sendfile (under 256
    # bytes, AP_MIN_SENDFILE_BYTES): 8 MiB in slices of 419430 leave 8.
    ok($paced->{sendfile_bytes} >= 8 * $mib - 256,
       "paced: the file leaves by sendfile ($paced->{sendfile_bytes} bytes)");
    ok($paced->{sendfile_calls} >= 20,
       "paced: slice by slice ($paced->{sendfile_calls} sendfile calls)");
    ok($paced->{read_bytes} < 256, "paced: read(2) takes none of it into memory "
       . "($paced->{read_bytes} bytes read)");
    # The same download with EnableSendfile Off: the count above would see a copy.
    ok($res2->{body} eq $want && $copied->{read_bytes} >= 8 * $mib && $copied->{sendfile_bytes} == 0,
       sprintf('EnableSendfile Off, for contrast: %d bytes read, %d by sendfile, %.2f s',
               $copied->{read_bytes}, $copied->{sendfile_bytes}, $t2));
}

# What an strace -f -y log says about $file: the bytes sendfile sent from
# it, in how many calls, and the bytes the read family took from it.
sub syscalls {
    my ($log, $file) = @_;
    my %n = (sendfile_bytes => 0, sendfile_calls => 0, read_bytes => 0);
    my %pending;    # thread => [call, descriptor's file] of an unfinished call
    open my $fh, '<', $log or return \%n;
    while (my $line = <$fh>) {
        my ($tid, $rest) = $line =~ /^(\d+)\s+(.*)$/ or next;
        my ($call, $path);
        if (($call) = $rest =~ /^<\.\.\. (\w+) resumed>/) {
            ($call, $path) = @{ delete $pending{$tid} // next };
        }
        elsif (($call) = $rest =~ /^(sendfile|read|pread64|readv|preadv)\(/) {
            ($path) = $call eq 'sendfile' ? $rest =~ /^\w+\(\d+<[^>]*>, \d+<([^>]*)>/
                                          : $rest =~ /^\w+\(\d+<([^>]*)>/;
            $path //= '';
            if ($rest =~ /<unfinished \.\.\.>$/) {
                $pending{$tid} = [$call, $path];
                next;
            }
        }
        else {
            next;
        }
        my ($ret) = $rest =~ /\)\s+=\s+(\d+)\s*$/ or next;
        next unless $path eq $file;
        if ($call eq 'sendfile') {
            $n{sendfile_bytes} += $ret;
            $n{sendfile_calls}++;
        }
        else {
            $n{read_bytes} += $ret;
        }
    }
    return \%n;
}
