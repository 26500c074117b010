#!/usr/bin/perl
# Test backend: answers with the trigger headers and body the query asks for.
#   file=V      X-SendFile: V          tmp=V    X-SendFile-Temporary: V
#   accel=V     X-Accel-Redirect: V    enc=V    X-SendFile-Encoding: V
#   status=N    Status: N              ctype=T  Content-Type: T
#   hdr=N:V     any further header (repeatable)
#   body=N      N bytes of body, written `chunk` bytes at a time (default 4096)
#   marker=F    create file F once all but the last body byte are written
#   pause=S     sleep S seconds after the first piece of the body
#   pipe=P      create the named pipe P, start a producer writing into it
#               and answer X-SendFile: P at once (SPEC §8).  The producer:
#               psize=N bytes (the pattern XSF::Test::stream_sha256 hashes),
#               pstall=S seconds of silence after pstall_after=N bytes,
#               pdone=F created once everything is written,
#               pepipe=F created when a write fails with EPIPE;
#               pdelay=S seconds before the producer opens the pipe
#               (it then blocks in open(2) until a reader comes);
#               ppid=F gets the producer's process id;
#               ptmp=1 names the pipe in X-SendFile-Temporary instead;
#               nowriter=1 starts no producer at all.
# Values are percent-decoded once, so a test sends %25 for a literal %.
use strict;
use warnings;

$| = 1;
binmode STDOUT;

my @pairs;
for my $kv (split /&/, $ENV{QUERY_STRING} // '') {
    my ($k, $v) = split /=/, $kv, 2;
    $v //= '';
    $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    push @pairs, [$k, $v];
}
my %q = map { $_->[0] => $_->[1] } @pairs;

start_producer(\%q) if defined $q{pipe};

my $out = '';
$out .= "Status: $q{status}\r\n" if defined $q{status};
$out .= "Content-Type: $q{ctype}\r\n" if defined $q{ctype};
$out .= "X-SendFile: $q{file}\r\n" if defined $q{file};
$out .= ($q{ptmp} ? 'X-SendFile-Temporary' : 'X-SendFile') . ": $q{pipe}\r\n"
    if defined $q{pipe};
$out .= "X-SendFile-Temporary: $q{tmp}\r\n" if defined $q{tmp};
$out .= "X-Accel-Redirect: $q{accel}\r\n" if defined $q{accel};
$out .= "X-SendFile-Encoding: $q{enc}\r\n" if defined $q{enc};
for my $p (grep { $_->[0] eq 'hdr' } @pairs) {
    $out .= "$p->[1]\r\n";
}
# What the handler was told (SPEC §2): the module's announcement, never the client's.
$out .= "X-Seen-Sendfile-Type: " . ($ENV{HTTP_X_SENDFILE_TYPE} // 'none') . "\r\n";
$out .= "X-Seen-Accel-Mapping: " . ($ENV{HTTP_X_ACCEL_MAPPING} // 'none') . "\r\n";
$out .= "X-Seen-Method: $ENV{REQUEST_METHOD}\r\n";
$out .= "X-Seen-Preconditions: " . join(',', grep { $ENV{$_} }
    qw(HTTP_IF_MATCH HTTP_IF_NONE_MATCH HTTP_IF_MODIFIED_SINCE
       HTTP_IF_UNMODIFIED_SINCE HTTP_IF_RANGE)) . "\r\n";
print $out, "\r\n";

my $left = $q{body} // 0;
my $chunk = $q{chunk} || 4096;
my $piece = 'b' x $chunk;
while ($left > 1) {
    my $n = $left - 1 < $chunk ? $left - 1 : $chunk;
    print substr($piece, 0, $n);
    $left -= $n;
    sleep delete $q{pause} if $q{pause};
}
if (defined $q{marker}) {
    open my $fh, '>', $q{marker} or die "marker $q{marker}: $!";
    close $fh;
}
print 'b' if $left == 1;
close STDOUT;
exit 0;

sub start_producer {
    my $q = shift;
    use POSIX qw(mkfifo setsid _exit);
    unlink $q->{pipe};
    mkfifo($q->{pipe}, 0600) or die "mkfifo $q->{pipe}: $!";
    return if $q->{nowriter};
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return if $pid;
    # The producer: detached from the CGI's output, or httpd would wait for it.
    setsid();
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    $SIG{PIPE} = 'IGNORE';
    if ($q->{ppid}) { open my $m, '>', $q->{ppid}; print $m $$; close $m; }
    sleep $q->{pdelay} if $q->{pdelay};
    open my $fh, '>:raw', $q->{pipe} or _exit(1);   # blocks until httpd opens it
    my $left = $q->{psize} // 0;
    my $stall_after = $q->{pstall_after} // -1;
    my ($i, $written) = (0, 0);
    while ($left > 0) {
        my $block = sprintf("%015d\n", $i++) x 4096;   # 64 KiB
        $block = substr($block, 0, $left) if $left < length $block;
        if ($stall_after >= 0 && $written >= $stall_after) {
            sleep $q->{pstall};
            $stall_after = -1;
        }
        unless (syswrite($fh, $block) == length $block) {
            if ($!{EPIPE} && $q->{pepipe}) {
                open my $m, '>', $q->{pepipe}; close $m;
            }
            _exit(2);
        }
        $left -= length $block;
        $written += length $block;
    }
    close $fh;
    if ($q->{pdone}) { open my $m, '>', $q->{pdone}; close $m; }
    _exit(0);
}
