package XSF::Test;
#
# Helpers shared by the t/*.t files: test files, backend URLs, raw HTTP.
#
use strict;
use warnings;

use Apache::Test ();
use Apache::TestRequest ();
use Apache::TestUtil ();
use File::Path qw(make_path);
use IO::Select;
use POSIX ();
use Exporter 'import';

our @EXPORT = qw(docroot files_dir make_file backend_url qenc
                 raw_request raw_exchange read_response file_bytes
                 header_list stream_sha256 port
                 httpd_children open_descriptors error_log_size error_log_since
                 start_httpd stop_httpd httpd_pid free_port start_php_fcgi
                 module_dir timed_get cgi_app_conf asis_conf make_asis);

sub docroot { Apache::Test::vars('documentroot') }
sub files_dir { docroot() . '/files' }

# A file under a directory of the tree with deterministic, position-dependent
# bytes, so that a shifted or truncated body never compares equal.
sub make_file {
    my ($rel, $size, $dir) = @_;
    $dir //= files_dir();
    my $path = "$dir/$rel";
    (my $parent = $path) =~ s{/[^/]*$}{};
    make_path($parent);
    open my $fh, '>:raw', $path or die "$path: $!";
    my $block = join '', map { sprintf "%07d\n", $_ } 0 .. 8191;   # 64 KiB
    my $left = $size;
    my $i = 0;
    while ($left > 0) {
        my $piece = substr($block, 0, $left < length $block ? $left : length $block);
        substr($piece, 0, 1) = chr(65 + $i++ % 26) if length $piece;
        print $fh $piece;
        $left -= length $piece;
    }
    close $fh;
    chmod 0644, $path;
    # An hour old: validators are then strong and the same on every request
    # (httpd marks an ETag weak while the file is under a second old).
    my $then = time - 3600;
    utime $then, $then, $path;
    return $path;
}

sub file_bytes {
    my $path = shift;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    my $data = <$fh>;
    return $data // '';
}

# Percent-encode everything but unreserved characters (for query values).
sub qenc {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# URL of a backend answering with the given trigger headers and body; see
# t/cgi-bin/xsf.cgi for the parameters.  $kind: cgi, proxy, wsgi, or any
# ScriptAlias prefix such as 'cgi-deflate'.
sub backend_url {
    my ($kind, @params) = @_;
    my %prefix = (cgi => '/cgi-bin/xsf.cgi', proxy => '/proxy/xsf.cgi',
                  wsgi => '/wsgi', backend => '/backend/xsf.cgi',
                  'wsgi-embedded' => '/wsgi-embedded', lua => '/lua');
    my $base = $prefix{$kind} // "/$kind/xsf.cgi";
    my @q;
    while (@params) {
        my ($k, $v) = splice @params, 0, 2;
        push @q, "$k=" . qenc($v);
    }
    return @q ? "$base?" . join('&', @q) : $base;
}

# SHA-256 (hex) of the first $size bytes of the producer's pattern
# (t/cgi-bin/xsf.cgi: 64 KiB blocks of a 16-byte line numbered by block).
sub stream_sha256 {
    my $size = shift;
    require Digest::SHA;
    my $sha = Digest::SHA->new(256);
    my $i = 0;
    while ($size > 0) {
        my $block = sprintf("%015d\n", $i++) x 4096;
        $block = substr($block, 0, $size) if $size < length $block;
        $sha->add($block);
        $size -= length $block;
    }
    return $sha->hexdigest;
}

sub port { Apache::Test::vars('port') }

# ---- the running server's processes and logs ----

# Process ids of the httpd children that serve requests (not the parent,
# not mod_wsgi's daemons, which rename themselves).
sub httpd_children {
    my $pidfile = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $parent = <$fh>);
    my @children;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $sf, '<', $stat or next;
        my $line = <$sf> // next;
        # pid (comm) state ppid ...
        my ($pid, $comm, $ppid) = $line =~ /^(\d+) \((.*)\) \S+ (\d+)/ or next;
        push @children, $pid if $ppid == $parent && $comm eq 'apache2';
    }
    return @children;
}

# The descriptors the given processes hold open on files whose name
# matches $re, as "pid:fd -> target" strings.
sub open_descriptors {
    my ($re, @pids) = @_;
    my @found;
    for my $pid (@pids) {
        for my $fd (glob "/proc/$pid/fd/*") {
            my $target = readlink $fd // next;
            push @found, "$pid:" . ($fd =~ s{.*/}{}r) . " -> $target" if $target =~ $re;
        }
    }
    return @found;
}

# ---- a second, small httpd that a test configures and starts itself ----

sub free_port {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

my @started;

# Start httpd -X with the suite's modules (t/base-httpd.conf), the module
# under test and $o{conf}; $o{shell_prefix} runs first (e.g. "ulimit -n 64"),
# $o{wrapper} is a command httpd runs under (e.g. strace); $o{processes}
# starts the MPM's parent and children instead of one process (for
# graceful restarts and per-child state).  Returns {pid, port, dir,
# error_log}; stop it with stop_httpd().
sub start_httpd {
    my (%o) = @_;
    my $t = Apache::Test::vars('t_dir');
    my $port = free_port();
    my $dir = "$t/logs/httpd-$o{name}";
    make_path($dir);
    chmod 0777, $dir;
    my $so = $ENV{XSF_MODULE} or die "XSF_MODULE is not set";
    my $user = Apache::Test::vars('user');
    my $group = Apache::Test::vars('group');
    open my $fh, '>', "$dir/httpd.conf" or die "$dir/httpd.conf: $!";
    print $fh <<"CONF";
Include $t/base-httpd.conf
LoadModule xsendfile_module "$so"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
User $user
Group $group
PidFile $dir/httpd.pid
ErrorLog $dir/error_log
LogLevel info xsendfile:debug
DefaultRuntimeDir $dir
$o{conf}
CONF
    close $fh;
    my $httpd = Apache::Test::vars('httpd');
    my $mode = $o{processes} ? '-DFOREGROUND' : '-X';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        exec('sh', '-c', ($o{shell_prefix} // ':') . '; exec ' . ($o{wrapper} // '')
             . qq{ "\$0" $mode -d "\$1" -f "\$1/httpd.conf"}, $httpd, $dir)
            or POSIX::_exit(127);
    }
    require IO::Socket::INET;
    for (1 .. 100) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        select undef, undef, undef, 0.1;
    }
    my $h = { pid => $pid, port => $port, dir => $dir, error_log => "$dir/error_log",
              wrapped => defined $o{wrapper} };
    push @started, $h;
    return $h;
}

# httpd's own process id (under a wrapper, $h->{pid} is the wrapper's).
sub httpd_pid {
    my $h = shift;
    open my $fh, '<', "$h->{dir}/httpd.pid" or return $h->{pid};
    chomp(my $pid = <$fh> // '');
    return $pid =~ /^\d+$/ ? $pid : $h->{pid};
}

sub stop_httpd {
    my $h = shift;
    return if $h->{stopped}++;
    # A wrapper would only pass the signal on, or detach and leave httpd running.
    kill 'TERM', $h->{wrapped} ? httpd_pid($h) : $h->{pid};
    waitpid $h->{pid}, 0;
}

# A test that dies leaves no httpd behind (it would hold the test's output
# open, and the harness would wait for it).
END {
    local $?;
    stop_httpd($_) for @started;
}

# php-cgi as a FastCGI server on the socket extra.conf.in's fcgi/ handler
# names; stopped when the test ends.  Returns whether it listens.
my $php_pid;
sub start_php_fcgi {
    my $sock = Apache::Test::vars('t_logs') . '/php-fcgi.sock';
    unlink $sock;
    $php_pid = fork // die "fork: $!";
    if ($php_pid == 0) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', Apache::Test::vars('t_logs') . '/php-fcgi.log';
        $ENV{PHP_FCGI_CHILDREN} = 0;
        $ENV{PHP_FCGI_MAX_REQUESTS} = 0;
        exec 'php-cgi', '-b', $sock or POSIX::_exit(127);
    }
    for (1 .. 100) { last if -S $sock; select undef, undef, undef, 0.1 }
    chmod 0666, $sock;   # httpd's children run unprivileged
    return -S $sock;
}
END { if ($php_pid) { kill 'TERM', $php_pid; waitpid $php_pid, 0 } }

# Configuration lines for start_httpd(): the suite's CGI scripts under
# /app/ with XSendFile On (cgid's socket in $dir) and @more in that
# <Location>; a directory of .asis files under $url with XSendFile On.
sub cgi_app_conf {
    my ($dir, @more) = @_;
    my $cgi = Apache::Test::vars('serverroot') . '/cgi-bin';
    return join "\n", "ScriptSock $dir/cgid.sock", "ScriptAlias /app/ $cgi/",
        "<Directory $cgi>", '    Options +ExecCGI', '    Require all granted', '</Directory>',
        '<Location /app/>', '    XSendFile On', (map { "    $_" } @more), '</Location>', '';
}

# An .asis response file $dir/$name (mod_asis): status 200, the header
# lines given, a body the module must drop; readable by httpd's user.
sub make_asis {
    my ($dir, $name, @headers) = @_;
    make_path($dir);
    chmod 0755, $dir;
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!";
    print $fh join('', map { "$_\n" } 'Status: 200 OK', @headers), "\nbody\n";
    close $fh;
    chmod 0644, "$dir/$name";
    return "$dir/$name";
}

sub asis_conf {
    my ($url, $dir) = @_;
    return join "\n", "Alias $url $dir/", "<Directory $dir>", '    Require all granted',
        '    AddHandler send-as-is asis', '    XSendFile On', '</Directory>', '';
}

# The directory of httpd's modules, as t/base-httpd.conf loads them from.
sub module_dir {
    my ($line) = file_bytes(Apache::Test::vars('serverroot') . '/base-httpd.conf') =~ /^(LoadModule .*)$/m;
    my ($dir) = $line =~ m{ (\S+)/mod_[^/]+\.so$};
    return $dir;
}

# GET $path on 127.0.0.1:$port on a connection of its own, timed from
# sending the request to the last byte.  Returns (seconds, the response as
# read_response() gives it, seconds until the first body byte).
sub timed_get {
    my ($port, $path, %h) = @_;
    require IO::Socket::INET;
    require Time::HiRes;
    my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!";
    binmode $sock;
    my $t0 = Time::HiRes::time();
    print $sock raw_request($path, Connection => 'close', %h);
    my ($buf, $first) = ('', undef);
    while (sysread($sock, my $chunk, 1 << 20)) {
        $buf .= $chunk;
        $first //= Time::HiRes::time() - $t0 if $buf =~ /\r\n\r\n./s;
    }
    my $elapsed = Time::HiRes::time() - $t0;
    close $sock;
    my $copy = $buf;
    open my $fh, '<', \$copy;
    return ($elapsed, read_response($fh, \$buf, ($h{method} // '') eq 'HEAD'), $first);
}

sub error_log_size { -s (Apache::Test::vars('t_logs') . '/error_log') // 0 }

sub error_log_since {
    my $offset = shift;
    open my $fh, '<', Apache::Test::vars('t_logs') . '/error_log' or return '';
    seek $fh, $offset, 0;
    local $/;
    return <$fh> // '';
}

# ---- raw HTTP/1.1 on one keep-alive connection ----

sub raw_request {
    my ($path, %h) = @_;
    my $method = delete $h{method} // 'GET';
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    return "$req\r\n";
}

sub _read_more {
    my ($sock, $bufref) = @_;
    my $sel = IO::Select->new($sock);
    return 0 unless $sel->can_read(60);
    my $n = sysread($sock, my $chunk, 1 << 20);
    return 0 unless $n;
    $$bufref .= $chunk;
    return 1;
}

# Read one response from $sock; $bufref holds bytes already read past the
# previous response.  Returns {status, headers => {lc name => [values]}, body}.
sub read_response {
    my ($sock, $bufref, $head_request) = @_;
    while ($$bufref !~ /\r\n\r\n/) {
        _read_more($sock, $bufref) or return undef;
    }
    $$bufref =~ s/^(.*?)\r\n\r\n//s;
    my @lines = split /\r\n/, $1;
    my $statusline = shift @lines;
    my ($status) = $statusline =~ m{^HTTP/\d\.\d (\d{3})};
    my %headers;
    for (@lines) {
        my ($n, $v) = /^([^:]+):\s*(.*)$/ or next;
        push @{ $headers{lc $n} }, $v;
    }
    my $body = '';
    my $no_body = $head_request || $status == 204 || $status == 304;
    if ($no_body) {
    }
    elsif (my $len = $headers{'content-length'}) {
        my $want = $len->[0];
        while (length $$bufref < $want) {
            _read_more($sock, $bufref) or last;
        }
        $body = substr($$bufref, 0, $want, '');
    }
    elsif (($headers{'transfer-encoding'}[0] // '') =~ /chunked/i) {
        while (1) {
            while ($$bufref !~ /\r\n/) { _read_more($sock, $bufref) or return undef }
            $$bufref =~ s/^([0-9a-fA-F]+)[^\r]*\r\n// or return undef;
            my $size = hex $1;
            while (length $$bufref < $size + 2) { _read_more($sock, $bufref) or return undef }
            $body .= substr($$bufref, 0, $size, '');
            substr($$bufref, 0, 2, '');
            if ($size == 0) { last }
        }
    }
    else {
        1 while _read_more($sock, $bufref);
        $body = $$bufref;
        $$bufref = '';
    }
    return { status => $status, headers => \%headers, body => $body };
}

# Send several requests, one after the other, on one connection.
sub raw_exchange {
    my @requests = @_;
    my $sock = Apache::TestRequest::vhost_socket() or die "no socket";
    binmode $sock;
    my $buf = '';
    my @responses;
    for my $r (@requests) {
        print $sock $r;
        my $head = $r =~ /^HEAD /;
        push @responses, read_response($sock, \$buf, $head);
    }
    close $sock;
    return @responses;
}

# All values of a header in an HTTP::Response, in order.
sub header_list {
    my ($res, $name) = @_;
    return [$res->headers->header($name)];
}

1;
