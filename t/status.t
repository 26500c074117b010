# SPEC §11: what the module did, in mod_status's page (HTML and ?auto,
# with ExtendedStatus On) summed over all children, and per request in
# notes that LogFormat reads (%{xsendfile-outcome}n, %{xsendfile-file}n,
# %{xsendfile-decoding}n).
#
# An httpd of its own with a parent and children, each child serving one
# connection (MaxConnectionsPerChild 1): every request below is served by
# another process, so the totals can only be right if they are summed
# over the children in shared memory and outlive them.  Then graceful
# restarts: the totals stay, and no shared memory segment is added.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use POSIX ();
use Time::HiRes qw(sleep);
use XSF::Test;

my $dir = Apache::Test::vars('t_logs') . '/httpd-status';
my $asis = "$dir/asis";
my $store = "$dir/store";
my $tmp = docroot() . '/tmp';
my $served = make_file('status/served.txt', 5000);
my $cafe = make_file("status/caf\xC3\xA9.txt", 700);
mkdir $dir;
chmod 0777, $dir;
mkdir $_ for $asis, $store;
make_file('target.txt', 1234, $store);

# .asis files: a backend's answer with its trigger header, no CGI needed.
my %asis = (
    served  => "X-SendFile: $served",
    percent => 'X-SendFile: ' . files_dir() . '/status/caf%C3%A9.txt',
    missing => 'X-SendFile: ' . files_dir() . '/status/missing.txt',
    outside => 'X-SendFile: /etc/passwd',
    accel   => 'X-Accel-Redirect: /protected/target.txt',
);
for my $name (keys %asis) {
    make_asis($asis, "$name.asis", 'Content-Type: text/plain', $asis{$name});
}
system 'chmod', '-R', 'a+rX', $asis, $store;

my $mods = module_dir();
my $conf = <<"CONF";
LoadModule status_module $mods/mod_status.so
ExtendedStatus On
ServerLimit 4
StartServers 2
MaxRequestWorkers 16
MaxConnectionsPerChild 1
<IfModule !mpm_prefork_module>
    ThreadsPerChild 4
    MinSpareThreads 4
    MaxSpareThreads 16
</IfModule>
LogFormat "%P|%r|%>s|%{xsendfile-outcome}n|%{xsendfile-file}n|%{xsendfile-decoding}n" xsf
CustomLog $dir/access_log xsf
XSendFilePath ${\files_dir()}
XSendFilePath $tmp
<Location /server-status>
    SetHandler server-status
</Location>
${\asis_conf('/asis/', $asis)}Alias /protected/ $store/
<Directory $store>
    Require all granted
</Directory>
<Location /protected/>
    XSendFileInternal On
</Location>
${\cgi_app_conf($dir, 'XSendFileStreamTimeout 10')}
CONF

my $httpd = start_httpd(name => 'status', processes => 1, conf => $conf);
my $base = "http://127.0.0.1:$httpd->{port}";

# mod_status's machine-readable page, the module's lines as a hash.
sub status {
    my $res = GET "$base/server-status?auto";
    my %s = $res->content =~ /^XSendFile(\w+): (\d+)$/mg;
    return \%s;
}

# The /dev/zero mappings of the parent: anonymous shared memory segments.
sub segments {
    open my $fh, '<', "/proc/$httpd->{pid}/maps" or return -1;
    return scalar grep { m{/dev/zero} } <$fh>;
}

plan tests => 32;

my $before = status();
is_deeply([@$before{qw(Files AccelRedirects Streams)}], [0, 0, 0], 'a fresh server counts nothing')
    or diag explain $before;

my @codes;
push @codes, GET("$base/asis/served.asis")->code for 1 .. 3;
push @codes, GET("$base/asis/percent.asis")->code;
push @codes, GET("$base/asis/$_.asis")->code for qw(missing outside accel);
push @codes, GET("$base/protected/target.txt")->code;
is("@codes", '200 200 200 200 404 403 200 404', 'the requests: served, refused, redirected');

# A stream that pauses: it is active while it pauses.
my $pipe = "$tmp/status-$$.pipe";
my $mib = 1 << 20;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $r = GET "$base/app/xsf.cgi?pipe=" . qenc($pipe) . "&psize=$mib&pstall_after=262144&pstall=3";
    POSIX::_exit(length($r->content) == $mib ? 0 : 1);
}
sleep 1.5;
my $during = status();
waitpid $pid, 0;
is($?, 0, 'the stream: all 1 MiB');
is($during->{StreamsActive}, 1, 'during the stream, another child sees it active');

my $s = status();
is($s->{Files}, 4, 'files served: 4, summed over the children that served them');
is($s->{FileBytes}, 3 * 5000 + 700, 'bytes of files sent: 15700');
is($s->{AccelRedirects}, 1, 'X-Accel-Redirects: 1');
is($s->{RefusedXSF0003}, 1, 'refused XSF0003 (missing): 1');
is($s->{RefusedXSF0004}, 1, 'refused XSF0004 (outside every root): 1');
is($s->{RefusedXSF0016}, 1, 'refused XSF0016 (an internal location asked directly): 1');
is($s->{RefusedXSF0005}, 0, 'refused XSF0005: 0');
is($s->{Streams}, 1, 'streams: 1');
is($s->{StreamsActive}, 0, 'streams active: 0 once it ended');
is($s->{StreamBytes}, $mib, 'bytes streamed: 1 MiB');
ok(($s->{StreamBufferMax} // 0) > 0 && $s->{StreamBufferMax} <= 16 * $mib + 65536,
   "largest stream buffer: $s->{StreamBufferMax} bytes, within XSendFileStreamBuffer and a segment");

my $html = GET("$base/server-status")->content;
like($html, qr{<h2>mod_xsendfile</h2>}, 'the HTML page has the section');
like($html, qr{<td>files served</td><td>4</td>}, 'the HTML page: files served 4');
like($html, qr{<td>refused or aborted, XSF0003</td><td>1</td>}, 'the HTML page: XSF0003 1');

# ---- the access log's notes ----
sleep 0.5;
my @log = map { chomp; [split /\|/, $_, -1] } do {
    open my $fh, '<', "$dir/access_log" or die "access_log: $!";
    <$fh>;
};
my %line;
for my $l (@log) {
    my ($path) = $l->[1] =~ m{^GET (\S+)};
    $line{$path} //= $l if defined $path;
}
my %pids = map { $_->[0] => 1 } grep { $_->[1] =~ /served\.asis/ } @log;
ok(keys %pids >= 2, scalar(keys %pids) . ' processes served served.asis (one connection each)');
is_deeply([@{ $line{'/asis/served.asis'} }[3 .. 5]], ['served', $served, 'raw'],
          'served: outcome, file, decoding') or diag explain $line{'/asis/served.asis'};
# (mod_log_config writes bytes above 0x7f as \xhh.)
(my $cafe_logged = $cafe) =~ s/([\x80-\xff])/sprintf '\\x%02x', ord $1/ge;
is_deeply([@{ $line{'/asis/percent.asis'} }[3 .. 5]], ['served', $cafe_logged, 'percent-decoded'],
          'percent-encoded name: the decoding that matched') or diag explain $line{'/asis/percent.asis'};
is_deeply([@{ $line{'/asis/missing.asis'} }[3 .. 5]], ['refused:XSF0003', '-', '-'], 'missing: refused:XSF0003');
is($line{'/asis/outside.asis'}[3], 'refused:XSF0004', 'outside: refused:XSF0004');
is_deeply([@{ $line{'/asis/accel.asis'} }[2 .. 4]], [200, 'accel-redirect', '/protected/target.txt'],
          'X-Accel-Redirect: the outcome and the URI, on the line of the response');
is($line{'/protected/target.txt'}[3], 'refused:XSF0016', 'an internal location asked directly: refused:XSF0016');
my ($stream) = grep { $_->[1] =~ /pipe=/ } @log;
is_deeply([@{ $stream // [] }[3 .. 5]], ['streamed', $pipe, 'raw'], 'a stream: streamed, the pipe');
is($line{'/server-status?auto'}[3], '-', 'a request the module did not act on: no note');
diag 'access log, for example: ' . join '|', @{ $line{'/asis/percent.asis'} };

# ---- graceful restarts keep the totals and the segment ----
my $segments = segments();
for (1 .. 3) {
    kill 'USR1', $httpd->{pid};
    sleep 1.5;
}
my $after;
for (1 .. 50) {
    $after = status();
    last if defined $after->{Files};
    sleep 0.2;
}
is($after->{Files}, 4, 'after three graceful restarts: files served still 4');
is($after->{StreamBytes}, $mib, 'after three graceful restarts: bytes streamed still 1 MiB');
is(segments(), $segments, "after three graceful restarts: still $segments shared memory segments");
GET("$base/asis/served.asis");
is(status()->{Files}, 5, 'and the count goes on: 5');
my $restarts = () = file_bytes($httpd->{error_log}) =~ /Doing graceful restart/g;
is($restarts, 3, 'the three graceful restarts happened');

stop_httpd($httpd);
