package XSF::Readme;
#
# README.md's recipes, read from README.md and run as written (t/readme.t).
#
# ---- Marking a block ----
# A fenced block belongs to a recipe when the line right before its opening
# fence is
#
#   <!-- recipe: NAME -->               the block as it is (by language, below)
#   <!-- recipe: NAME file: PATH -->    the block is the whole file PATH
#   <!-- recipe: NAME service -->       a shell command that runs a server
#
# A recipe is all blocks with its NAME, in README order.  What each one
# becomes in a run (XSF::Readme::Site):
#   apache    appended to /etc/apache2/conf-available/NAME.conf, then
#             `a2enconf NAME`, as the README tells a Debian user;
#   sh        run by `sh -e` as root; `apt-get install P...` lines are not
#             run but checked: P must be installed and be listed in
#             scripts/debian-packages.txt (CI installs that list);
#   file:     written to PATH (its directories created), mode 0644;
#   service:  started in the background once the other blocks have run,
#             before Apache; stopped by pid.
#
# ---- What is substituted ----
# Only example paths and ports, in the blocks and in the test's copies of
# Debian's configuration, by this table (and nothing else):
#
#   /srv  /etc/apache2  /etc/php  /run/php     ->  the same path below the run's
#   /var/run/apache2  /var/lock/apache2  /var/log      scratch directory
#   any path ending in modules/mod_xsendfile.so  ->  the module under test
#   127.0.0.1:9000                               ->  127.0.0.1:<free port>
#   Debian's `Listen 80` and `<VirtualHost *:80>` ->  127.0.0.1:<free port>
#   mod_wsgi's built-in socket prefix /var/run/apache2/wsgi  ->  moved like
#       /var/run/apache2, by a WSGISocketPrefix line in the copy's wsgi.conf
#
# A shell block that names another existing path outside /usr, /bin, /sbin
# and /dev/null is refused: the tests run as root.
#
# ---- Debian's default environment ----
# Each run gets a copy of the host's /etc/apache2 (what Debian installed,
# with the modules its packages enable on install: mod_perl from
# libapache2-mod-perl2, mod_wsgi, ...), started the way systemd starts it:
# `apache2ctl` with APACHE_CONFDIR naming the copy, which sources its
# envvars (LANG=C), makes the run and lock directories and starts
# /usr/sbin/apache2 -d COPY, here with -DFOREGROUND so that the test owns
# the process (APACHE_HTTPD, which apache2ctl honours, names the httpd the
# suite was given: the ASan wrapper under `make check-asan`).  Debian's own mod_xsendfile, if enabled, is disabled in the
# copy; the module under test is loaded by the README's LoadModule line
# (recipe `load`), path substituted, through `a2enmod xsendfile`.  a2enmod
# and a2enconf act on the copy (APACHE_CONFDIR, APACHE_STATE_DIRECTORY).
# The host's /etc/apache2, its port 80 and its services are never touched.
#
use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use LWP::UserAgent;
use POSIX ();
use Time::HiRes qw(sleep);
use XSF::Test qw(file_bytes);

our @EXPORT = qw(recipe_blocks readme_recipe);

my @PREFIXES = qw(/srv /etc/apache2 /etc/php /run/php /var/run/apache2 /var/lock/apache2 /var/log);
my $SAFE_PATH = qr{^/(?:usr|bin|sbin)(?:/|$)|^/dev/null$};

sub srcdir {
    return $ENV{XSF_SRCDIR} // die "XSF_SRCDIR is not set (t/run-apache-tests.sh sets it)\n";
}

# Every marked block of README.md, in order: {name, lang, file, service,
# text, line}.  A marker not followed by a fenced block is an error.
sub all_blocks {
    my @lines = split /^/, file_bytes(srcdir() . '/README.md');
    my @blocks;
    for (my $i = 0; $i < @lines; $i++) {
        next unless $lines[$i] =~ /^<!--\s*recipe\b/;
        my ($name, $rest) = $lines[$i] =~ /^<!-- recipe: ([\w.-]+)((?: [^\n]*?)?) -->$/
            or die "README.md:" . ($i + 1) . ": a recipe marker I cannot read: $lines[$i]";
        my %block = (name => $name, line => $i + 2, text => '');
        if ($rest =~ /^ file: (\/\S+)$/) { $block{file} = $1 }
        elsif ($rest eq ' service') { $block{service} = 1 }
        elsif ($rest ne '') { die "README.md:" . ($i + 1) . ": unknown marker option '$rest'\n" }
        ($block{lang}) = ($lines[++$i] // '') =~ /^```(\w*)$/
            or die "README.md:$i: the recipe marker is not right before a fenced block\n";
        while (++$i < @lines && $lines[$i] !~ /^```$/) { $block{text} .= $lines[$i] }
        die "README.md:$block{line}: the block never ends\n" if $i >= @lines;
        push @blocks, \%block;
    }
    return @blocks;
}

# The first lines (numbers) of fenced blocks under the `## $heading`
# section that carry no recipe marker.
sub unmarked_blocks {
    my ($heading) = @_;
    my @lines = split /^/, file_bytes(srcdir() . '/README.md');
    my ($in, $fenced, @unmarked) = (0, 0);
    for my $i (0 .. $#lines) {
        if (!$fenced && $lines[$i] =~ /^## /) { $in = $lines[$i] =~ /^## \Q$heading\E$/; next }
        next unless $lines[$i] =~ /^```/;
        $fenced = !$fenced;
        push @unmarked, $i + 1 if $in && $fenced && ($i == 0 || $lines[$i - 1] !~ /^<!-- recipe: /);
    }
    return @unmarked;
}

# The blocks of the named recipes, in README order; each name must have one.
sub recipe_blocks {
    my %want = map { $_ => 0 } @_;
    my @blocks = grep { exists $want{$_->{name}} && ++$want{$_->{name}} } all_blocks();
    my @missing = grep { !$want{$_} } sort keys %want;
    die "README.md: no block marked <!-- recipe: $_ -->\n" for @missing;
    return @blocks;
}

# One recipe as {language => text}, for recipes with one block a language.
sub readme_recipe {
    my ($name) = @_;
    my %by_lang;
    for my $b (recipe_blocks($name)) {
        die "README.md: two $b->{lang} blocks in recipe $name\n" if exists $by_lang{$b->{lang}};
        $by_lang{$b->{lang}} = $b->{text};
    }
    return \%by_lang;
}

# The table above, for a run below $root.
sub substitute {
    my ($text, $root, $module, $fcgi_port) = @_;
    for my $p (@PREFIXES) {
        $text =~ s{(?<![\w./-])\Q$p\E(?![\w.-])}{$root$p}g;
    }
    $text =~ s{(?<![\w.-])\S*modules/mod_xsendfile\.so\b}{$module}g;
    $text =~ s{\b127\.0\.0\.1:9000\b}{127.0.0.1:$fcgi_port}g if defined $fcgi_port;
    return $text;
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
        or die "no free port: $!";
    return $s->sockport;
}

# ======================================================================
package XSF::Readme::Site;
#
# One Apache in Debian's default environment, below its own scratch
# directory, running README recipes.
#
use strict;
use warnings;

use File::Find ();
use File::Path qw(make_path remove_tree);
use POSIX ();
use Time::HiRes qw(sleep);
use XSF::Test qw(file_bytes);

sub new {
    my ($class, %arg) = @_;
    my $self = bless {
        root => $arg{root}, module => $arg{module}, httpd => $arg{httpd} // '/usr/sbin/apache2',
        port => XSF::Readme::free_port(),
        fcgi_port => XSF::Readme::free_port(), pids => [], packages => [],
    }, $class;
    my $root = $self->{root};
    remove_tree($root);
    make_path(map { "$root$_" } qw(/etc /srv /var/log/apache2 /var/run /var/lock /var/state), { mode => 0755 });
    system('cp', '-a', '/etc/apache2', "$root/etc/apache2") == 0 or die "cp /etc/apache2 failed\n";
    $self->_substitute_tree("$root/etc/apache2");
    my $envvars = file_bytes("$root/etc/apache2/envvars");
    die "the copy's envvars still names a host path:\n$envvars" if $envvars =~ m{^export \w+=/(?:var|run)/}m;
    $self->append("$root/etc/apache2/mods-available/wsgi.conf",
                  "<IfModule mod_wsgi.c>\n    WSGISocketPrefix $root/var/run/apache2/wsgi\n</IfModule>\n");
    $self->write("$root/etc/apache2/ports.conf", "Listen 127.0.0.1:$self->{port}\n");
    for my $site (glob "$root/etc/apache2/sites-available/*.conf") {
        (my $text = file_bytes($site)) =~ s/\*:80\b/*:$self->{port}/g;
        $self->write($site, $text);
    }
    my ($load) = map { /^(LoadModule xsendfile_module .*)$/m ? $1 : () }
        map { $_->{text} } XSF::Readme::recipe_blocks('load');
    die "README.md: recipe load has no 'LoadModule xsendfile_module' line\n" unless $load;
    # Debian's package of the original module, if enabled, is not what we
    # test; mod_perl is enabled by libapache2-mod-perl2, which the suite needs.
    my $enabled = "$root/etc/apache2/mods-enabled";
    $self->sh(join '; ', (-e "$enabled/xsendfile.load" ? 'a2dismod -q -f xsendfile' : ()),
                         (-e "$enabled/perl.load" ? () : 'a2enmod -q perl'));
    $self->write("$root/etc/apache2/mods-available/xsendfile.load", $self->subst($load) . "\n");
    $self->sh('a2enmod -q xsendfile');
    return $self;
}

sub root { $_[0]{root} }
sub port { $_[0]{port} }
sub subst { my ($self, $text) = @_; XSF::Readme::substitute($text, @$self{qw(root module fcgi_port)}) }

sub write {
    my ($self, $path, $text, $mode) = @_;
    (my $dir = $path) =~ s{/[^/]*$}{};
    make_path($dir, { mode => 0755 });
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
    chmod $mode // 0644, $path;
}

sub append {
    my ($self, $path, $text) = @_;
    $self->write($path, (-e $path ? file_bytes($path) : '') . $text);
}

# Every regular file below $dir with the table applied (Debian's paths to
# its run, lock and log directories, the PHP-FPM socket).
sub _substitute_tree {
    my ($self, $dir) = @_;
    File::Find::find({ no_chdir => 1, wanted => sub {
        return if -l $_ || !-f _;
        my $text = file_bytes($_);
        my $new = $self->subst($text);
        $self->write($_, $new, (stat $_)[2] & 07777) if $new ne $text;
    } }, $dir);
}

sub env {
    my $self = shift;
    return (PATH => '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            APACHE_CONFDIR => "$self->{root}/etc/apache2", APACHE_HTTPD => $self->{httpd},
            APACHE_STATE_DIRECTORY => "$self->{root}/var/state");
}

# Run a shell script (already substituted) as root in a clean environment
# naming the copy; dies with its output on failure.
sub sh {
    my ($self, $script) = @_;
    my $pid = open my $out, '-|' // die "fork: $!";
    if (!$pid) {
        %ENV = $self->env;
        chdir $self->{root};
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        exec '/bin/sh', '-e', '-c', $script or POSIX::_exit(127);
    }
    local $/;
    my $output = <$out> // '';
    close $out;
    die "this failed (exit status " . ($? >> 8) . "):\n$script\n$output" if $?;
    return $output;
}

# Refuse a shell block that would touch the host (see the header).
sub _check_paths {
    my ($self, $script, $where) = @_;
    for my $path ($script =~ m{(?<![\w.:/-])(/[^\s"';|&)]*)}g) {
        next if index($path, "$self->{root}/") == 0 || $path =~ $SAFE_PATH;
        my ($top) = $path =~ m{^(/[^/]+)};
        die "$where: $path is outside the test's tree\n" if -e $top;
    }
}

# Run the named recipes' blocks in README order (see the header).
sub run_recipes {
    my ($self, @names) = @_;
    my (%conf, @conf_order);
    for my $b (XSF::Readme::recipe_blocks(@names)) {
        my $where = "README.md:$b->{line} (recipe $b->{name})";
        my $text = $self->subst($b->{text});
        if ($b->{file}) {
            $self->write($self->subst($b->{file}), $text);
        }
        elsif ($b->{lang} eq 'apache') {
            push @conf_order, $b->{name} unless exists $conf{$b->{name}};
            $conf{$b->{name}} .= $text;
        }
        elsif ($b->{lang} eq 'sh') {
            $self->_check_paths($text, $where);
            $text =~ s{^\s*apt-get install (?:-y )?(.*)\n}{push @{$self->{packages}}, split ' ', $1; ''}mge;
            if ($b->{service}) { push @{$self->{services}}, $text }
            else { $self->sh($text) }
        }
        else {
            die "$where: a $b->{lang} block needs 'file: PATH' in its marker\n";
        }
    }
    $self->add_conf($_, $conf{$_}) for @conf_order;
}

# Apache lines in /etc/apache2/conf-available/$name.conf, enabled.
sub add_conf {
    my ($self, $name, $text) = @_;
    $self->write("$self->{root}/etc/apache2/conf-available/$name.conf", $text);
    $self->sh("a2enconf -q $name");
}

# Packages the recipes' `apt-get install` lines name.
sub packages { @{ $_[0]{packages} } }

sub _spawn {
    my ($self, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setsid();
        %ENV = $self->env;
        chdir $self->{root};
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    push @{ $self->{pids} }, $pid;
    return $pid;
}

# Debian's php-fpm service (what `apt-get install php-fpm` starts), from a
# copy of /etc/php/VERSION/fpm with the table applied.
sub start_php_fpm {
    my $self = shift;
    my ($fpm) = sort glob '/etc/php/*/fpm' or die "php-fpm is not installed\n";
    my ($version) = $fpm =~ m{/etc/php/([^/]+)/fpm};
    my $copy = "$self->{root}$fpm";
    make_path("$self->{root}/etc/php/$version", "$self->{root}/run/php", { mode => 0755 });
    system('cp', '-a', $fpm, $copy) == 0 or die "cp $fpm failed\n";
    $self->_substitute_tree($copy);
    $self->_spawn("$self->{root}/var/log/php-fpm.out", "/usr/sbin/php-fpm$version",
                  '--nodaemonize', '--fpm-config', "$copy/php-fpm.conf");
    my $sock = "$self->{root}/run/php/php$version-fpm.sock";
    for (1 .. 100) { last if -S $sock; sleep 0.1 }
    die "php-fpm did not start:\n" . file_bytes("$self->{root}/var/log/php-fpm.out") unless -S $sock;
}

# apache2ctl as systemd runs it, in the foreground; then wait for the port.
sub start {
    my $self = shift;
    my $log = "$self->{root}/var/log/apache2ctl.out";
    for my $service (@{ $self->{services} || [] }) {
        $self->_spawn($log, '/bin/sh', '-e', '-c', "exec $service");
    }
    $self->{ctl} = $self->_spawn($log, '/usr/sbin/apache2ctl', '-DFOREGROUND');
    for (1 .. 300) {
        if ($self->error_log =~ /AH00489: .* resuming normal operations/) {
            die "Apache's PidFile is not in the copy: stopped\n" unless -e $self->pidfile;
            return 1 if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}");
        }
        last if waitpid($self->{ctl}, POSIX::WNOHANG()) > 0;
        sleep 0.1;
    }
    die "Apache did not start:\n" . file_bytes($log) . $self->error_log;
}

sub pidfile { "$_[0]{root}/var/run/apache2/apache2.pid" }

# The shared objects the running httpd has mapped.
sub mapped_files {
    my $self = shift;
    my $pid = file_bytes($self->pidfile) =~ s/\s+//gr;
    my %files = map { m{ (/\S+)$} ? ($1 => 1) : () } split /\n/, file_bytes("/proc/$pid/maps");
    return sort keys %files;
}

sub error_log {
    my $self = shift;
    my $f = "$self->{root}/var/log/apache2/error.log";
    return -e $f ? file_bytes($f) : '';
}

# Stop what start() started, by pid: httpd by its PidFile (apache2ctl runs
# it as a child and then exits), services (and an httpd that wrote no
# PidFile) by the process group each was started in.
sub stop {
    my $self = shift;
    my $httpd = -e $self->pidfile ? file_bytes($self->pidfile) =~ s/\s+//gr : '';
    kill 'TERM', $httpd if $httpd =~ /^\d+$/;
    for my $pid (reverse @{ $self->{pids} }) {
        kill 'TERM', -$pid unless $httpd && $self->{ctl} && $pid == $self->{ctl};
        my $waited = 0;
        while (waitpid($pid, POSIX::WNOHANG()) == 0) {
            if (++$waited > 200) { kill 'KILL', -$pid; waitpid $pid, 0; last }
            sleep 0.05;
        }
    }
    $self->{pids} = [];
}

sub DESTROY { $_[0]->stop }

# A GET to this Apache; returns the HTTP::Response.
sub get {
    my ($self, $path, @headers) = @_;
    $self->{ua} //= LWP::UserAgent->new(timeout => 60, max_redirect => 0);
    return $self->{ua}->get("http://127.0.0.1:$self->{port}$path", @headers);
}

1;
