# Issue 12: the README is executable.  Every recipe of README.md's cookbook
# and its named-pipe example is read from README.md itself (the blocks
# marked `<!-- recipe: NAME ... -->`) and run as written, only example paths
# and ports substituted (the table in t/lib/XSF/Readme.pm, also in the
# README's Testing section), each in an Apache of its own in Debian's
# default environment:
#
#   - a copy of the host's /etc/apache2 below t/readme/NAME/, with the
#     modules Debian's packages enabled on install (mod_perl, mod_wsgi,
#     ...) plus what the recipe says to a2enmod, Debian's own
#     mod_xsendfile disabled and the module under test loaded by the
#     README's LoadModule line;
#   - started as systemd does, by apache2ctl (APACHE_CONFDIR = the copy),
#     so its envvars apply (LANG=C), here in the foreground, listening on
#     127.0.0.1 and a free port, and stopped by pid; PHP-FPM is Debian's
#     php-fpm with a copy of its configuration, started and stopped here.
#
# Nothing on the host changes: not /etc/apache2, not port 80, no service.
# Each recipe downloads files with ASCII and non-ASCII names (`résumé
# 2024.pdf`, `日本語.txt`) and compares the bytes; no trigger header may reach
# the client.  Two claims of the README's prose are tested by turning them
# around: LANG=C with mod_perl breaks Python's non-ASCII names even with
# lang=/locale= on WSGIDaemonProcess, and a pipe directory the backend
# cannot write makes the pipe recipe fail with the log line the README
# quotes.
#
# A missing framework package fails the test (it is in
# scripts/debian-packages.txt, which CI installs); nothing is skipped.
#
# This file is UTF-8 and works on bytes (no `use utf8`).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use File::Path qw(make_path remove_tree);
use Time::HiRes ();
use XSF::Test;
use XSF::Readme;



my $top = Apache::Test::vars('serverroot') . '/readme';
my $module = $ENV{XSF_MODULE} or die "XSF_MODULE is not set\n";
my @NAMES = ('report.pdf', 'résumé 2024.pdf', '日本語.txt');
my @TRIGGERS = qw(X-SendFile X-SendFile-Temporary X-SendFile-Encoding X-Accel-Redirect);
my %packages;    # named by the recipes' apt-get lines

ok($> == 0, "root runs this test (Debian's Apache starts as root, then becomes www-data)")
    or BAIL_OUT('not root');
like(file_bytes('/etc/apache2/envvars'), qr/^export LANG=C$/m,
     "the host's /etc/apache2/envvars is Debian's (LANG=C)");

# The promise: every block of these sections is a recipe that runs here.
for my $section ('Framework cookbook', 'Streaming what does not exist yet (named pipes)') {
    my @unmarked = XSF::Readme::unmarked_blocks($section);
    is("@unmarked", '', "README.md, $section: every fenced block is a marked recipe")
        or diag 'unmarked blocks at README.md lines: ' . join ', ', @unmarked;
}

# A fresh Apache for the named recipes, with the test's files under
# /srv/protected; $before runs after the recipes, before the start.
sub site {
    my ($case, $recipes, $before) = @_;
    my $site = XSF::Readme::Site->new(root => "$top/$case", module => $module,
                                      httpd => Apache::Test::vars('httpd'));
    for my $name (@NAMES) {
        make_file($name, 5_000 + length $name, $site->root . '/srv/protected');
    }
    $site->run_recipes(@$recipes);
    $packages{$_} = 1 for $site->packages;
    $before->($site) if $before;
    $site->start;
    return $site;
}

sub no_triggers {
    my ($res, $what) = @_;
    my @leaked = grep { defined $res->header($_) } @TRIGGERS;
    ok(!@leaked, "$what: no trigger header reaches the client") or diag "leaked: @leaked";
}

# GET each file through $url_of->(name): 200, its bytes, no trigger.
sub downloads {
    my ($site, $what, $url_of, @names) = @_;
    for my $name (@names ? @names : @NAMES) {
        my $want = file_bytes($site->root . "/srv/protected/$name");
        my $res = $site->get($url_of->($name));
        is($res->code, 200, "$what, $name: 200");
        ok($res->content eq $want, "$what, $name: the file's bytes")
            or diag sprintf '%d bytes: %.200s', length $res->content, $res->content;
        is($res->header('Content-Length'), length $want, "$what, $name: the file's Content-Length");
        no_triggers($res, "$what, $name");
    }
}

sub log_tail {
    my ($site, $what) = @_;
    return if Test::More->builder->is_passing;
    my @log = split /^/, $site->error_log;
    diag "---- $what: the end of its error.log ----\n", @log[($#log > 30 ? $#log - 30 : 0) .. $#log];
}

my %seconds;
sub timed {
    my ($case, $code) = @_;
    my $t0 = Time::HiRes::time();
    eval { $code->(); 1 } or fail("$case: $@");
    $seconds{$case} = Time::HiRes::time() - $t0;
}

# ---------------------------------------------------------------- Python
timed(django => sub {
    my $site = site('django', ['wsgi-locale', 'django']);
    like($site->error_log, qr{ mod_wsgi/\S+ Python/\S+ mod_perl/}, 'Django: Apache runs mod_wsgi and mod_perl');
    my @mapped = grep { /mod_xsendfile\.so$/ } $site->mapped_files;
    is_deeply(\@mapped, [$module], 'Django: the module under test is loaded, not Debian\'s')
        or diag "mapped: @mapped";
    like(file_bytes($site->root . '/etc/apache2/envvars'), qr/^export LANG=C\.UTF-8$/m,
         "Django: the recipe's sed changed envvars");
    downloads($site, 'Django', sub { '/app/download/' . qenc(shift) });
    is($site->get('/app/download/nothere.pdf')->code, 404, 'Django: a missing file: 404 from the view');
    log_tail($site, 'Django');
});

# What the README says about lang=/locale= under mod_perl, turned around:
# Debian's envvars as it is, and the two options the README used to say
# were enough.  ASCII works, non-ASCII names are not found by Python.
timed('django-lang-c' => sub {
    my $site = site('django-lang-c', ['django'], sub {
        my $conf = shift->root . '/etc/apache2/conf-available/django.conf';
        my $text = file_bytes($conf);
        $text =~ s/^(WSGIDaemonProcess app) /$1 lang=C.UTF-8 locale=C.UTF-8 /m
            or die "README.md: the Django recipe has no 'WSGIDaemonProcess app ' line\n";
        open my $fh, '>', $conf or die $!;
        print $fh $text;
    });
    downloads($site, 'Django, LANG=C, lang=/locale= only', sub { '/app/download/' . qenc(shift) },
              'report.pdf');
    for my $name ('résumé 2024.pdf', '日本語.txt') {
        is($site->get('/app/download/' . qenc($name))->code, 404,
           "Django, LANG=C, lang=/locale= only, $name: 404 (Python cannot see it; the README's reason for the envvars line)");
    }
    log_tail($site, 'Django, LANG=C');
});

timed(flask => sub {
    my $site = site('flask', ['wsgi-locale', 'flask']);
    downloads($site, 'Flask', sub { '/app/download/' . qenc(shift) });
    is($site->get('/app/download/nothere.pdf')->code, 404, 'Flask: a missing file: 404 from Flask');
    log_tail($site, 'Flask');
});

# ------------------------------------------------------------------- PHP
my $php_url = sub { '/app/download.php?name=' . qenc(shift) };

timed('php-fpm' => sub {
    my $site = site('php-fpm', ['php', 'php-fpm'], sub { shift->start_php_fpm });
    downloads($site, 'PHP-FPM', $php_url);
    log_tail($site, 'PHP-FPM');
});

timed('php-fcgi' => sub {
    my $site = site('php-fcgi', ['php', 'php-fcgi']);
    downloads($site, 'php-cgi over FastCGI', $php_url);
    log_tail($site, 'php-cgi over FastCGI');
});

timed('php-cgi' => sub {
    my $site = site('php-cgi', ['php', 'php-cgi']);
    downloads($site, 'PHP as CGI', $php_url);
    log_tail($site, 'PHP as CGI');
});

timed(symfony => sub {
    my $site = site('symfony', ['php-fpm', 'symfony'], sub { shift->start_php_fpm });
    downloads($site, 'Symfony', $php_url);
    my $res = $site->get($php_url->('report.pdf'));
    # Apache would say application/pdf; symfony/mime reads the (text) content.
    is($res->header('Content-Type'), 'text/plain; charset=UTF-8', 'Symfony: the type symfony/mime guessed');
    like($res->header('Content-Disposition') // '', qr/^attachment; filename=report\.pdf$/,
         'Symfony: its Content-Disposition');
    log_tail($site, 'Symfony');
});

# ------------------------------------------------------------------ Rack
timed(rack => sub {
    my $site = site('rack', ['rack', 'rack-accel']);
    downloads($site, 'Rack', sub { '/app/' . qenc(shift) });
    downloads($site, 'Rack, X-Accel-Redirect', sub { '/accel/' . qenc(shift) });
    is($site->get('/protected/report.pdf')->code, 404, 'Rack: the internal location answers clients 404');
    log_tail($site, 'Rack');
});

# ------------------------------------------------------------ named pipe
timed(pipe => sub {
    my $site = site('pipe', ['pipe'], sub {
        my $root = shift->root;
        make_file("sub/$_", 100_000 + length, "$root/srv/reports") for @NAMES;
    });
    my $root = $site->root;
    my $res = $site->get('/export');
    is($res->code, 200, 'pipe: 200');
    # LWP reports the transfer coding it removed as Client-Transfer-Encoding.
    is($res->header('Client-Transfer-Encoding'), 'chunked', 'pipe: streamed (chunked)');
    ok(!defined $res->header('Content-Length'), 'pipe: no Content-Length');
    no_triggers($res, 'pipe');
    my $out = "$root/unpacked";
    make_path($out);
    open my $tar, '|-', 'tar', '-xzf', '-', '-C', $out or die "tar: $!";
    print $tar $res->content;
    ok(close($tar), 'pipe: the body is a complete .tar.gz');
    for my $name (@NAMES) {
        ok(-e "$out/sub/$name" && file_bytes("$out/sub/$name") eq file_bytes("$root/srv/reports/sub/$name"),
           "pipe: $name in the tarball, byte for byte");
    }
    is_deeply([glob "$root/srv/exports/*"], [], 'pipe: the pipe is removed afterwards');

    # The README's warning: a pipe directory the script cannot write.
    chown 0, 0, "$root/srv/exports" or die $!;
    $res = $site->get('/export');
    is($res->code, 500, 'pipe, exports not writable by www-data: 500');
    like($site->error_log, qr/mkfifo: cannot create fifo '[^']*\/srv\/exports\/reports-\d+\.pipe': Permission denied/,
         'pipe, exports not writable by www-data: the log line the README quotes');
    log_tail($site, 'pipe');
});

# ----------------------------------------------------------- packages
my @listed = grep { /^[a-z0-9]/ } split /\n/, file_bytes(XSF::Readme::srcdir() . '/scripts/debian-packages.txt');
my %listed = map { $_ => 1 } @listed;
for my $p (sort keys %packages) {
    my $status = `dpkg-query -W -f='\${Status}' '$p' 2>/dev/null`;
    is($status, 'install ok installed', "the recipes' package $p is installed");
    ok($listed{$p}, "the recipes' package $p is in scripts/debian-packages.txt");
}

note sprintf "seconds: %s", join ', ', map { sprintf '%s %.1f', $_, $seconds{$_} } sort keys %seconds;
remove_tree($top) if Test::More->builder->is_passing && !$ENV{XSF_KEEP};
done_testing();
