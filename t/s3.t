# Issue 13 (4): files in S3-compatible object storage, the README's recipe
# run as written.  Its Apache configuration and its Flask application are
# read from README.md (the fenced blocks after `<!-- recipe: s3 -->`), with
# only the store's address and the application's directory replaced, and
# run in an httpd of this test's own (start_httpd): the store's port is known only once
# the store runs.  The store is s3rver (@20minutes/s3rver, which verifies
# SigV4 signatures, method and Host header included), installed by
# scripts/install-s3rver.sh and started here on 127.0.0.1; both servers are
# stopped by pid.
#
# The presigned query must reach the store intact through the redirect and
# the proxy: a tampered one gets the store's 403.  Then each line the
# README says is needed is taken away in turn (a copy of the recipe's
# location under another name) and the download fails as the README says.
#
# This file is UTF-8 and works on bytes (no `use utf8`): keys are the UTF-8
# bytes S3 stores.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Digest::MD5 qw(md5_hex);
use File::Path qw(make_path remove_tree);
use IO::Select;
use IO::Socket::INET;
use LWP::UserAgent;
use POSIX ();
use XSF::Test;

my $serverroot = Apache::Test::vars('serverroot');
my $srcdir = $ENV{XSF_SRCDIR};
my $have_node = !system('command -v node >/dev/null && command -v npm >/dev/null');
unless ($have_node) {
    print STDERR "\n*** t/s3.t: node or npm is absent: the S3 recipe is NOT TESTED ***\n\n";
}

plan tests => 53, need { 'node and npm, which run the S3 store (s3rver)' => $have_node };
die "XSF_SRCDIR is not set (t/run-apache-tests.sh sets it)\n" unless $srcdir;

# The fenced blocks of README.md that follow a line `<!-- recipe: NAME -->`,
# as {language => text}.  (For t/lib once other recipes are read this way.)
sub readme_recipe {
    my ($name) = @_;
    my $readme = file_bytes("$srcdir/README.md");
    my %blocks;
    while ($readme =~ /^<!-- recipe: \Q$name\E -->\n```(\w+)\n(.*?)^```$/msg) {
        die "README.md: two $1 blocks in recipe $name\n" if exists $blocks{$1};
        $blocks{$1} = $2;
    }
    die "README.md: no block marked <!-- recipe: $name -->\n" unless %blocks;
    return \%blocks;
}

my $dir = "$serverroot/s3-run";
remove_tree($dir);
make_path("$dir/app", "$dir/objects", "$dir/data", { mode => 0755 });
# The application's credentials and the test's: boto3's environment chain,
# inherited by httpd and its mod_wsgi daemon.
@ENV{qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY)} = ('S3RVER', 'S3RVER');   # s3rver's fixed key

my (@pids, $store_port);
END {
    for my $pid (reverse @pids) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

# ---- the store ----
my $node_path = `sh '$srcdir/scripts/install-s3rver.sh'`;
chomp $node_path;
ok($? == 0 && -d "$node_path/\@20minutes/s3rver", 'the store is installed (scripts/install-s3rver.sh)')
    or die "scripts/install-s3rver.sh failed\n";
{
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        POSIX::setsid();
        close $r;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>&', $w;
        open STDERR, '>', "$dir/store.log";
        $ENV{NODE_PATH} = $node_path;
        exec 'node', "$serverroot/s3/store.js", "$dir/data", 'media' or POSIX::_exit(127);
    }
    push @pids, $pid;
    close $w;
    my $out = '';
    my $sel = IO::Select->new($r);
    while ($out !~ /\n/ && $sel->can_read(30)) {
        sysread($r, $out, 256, length $out) or last;
    }
    ($store_port) = $out =~ /^port (\d+)$/m;
}
ok($store_port, 's3rver listens on 127.0.0.1')
    or die "the store did not start:\n" . file_bytes("$dir/store.log");
my $endpoint = "http://127.0.0.1:$store_port";

# t/s3/s3ctl.py, the test's own boto3 client, under Debian's python3 (the
# one mod_wsgi runs).  Returns (success, output).
sub s3ctl {
    open my $p, '-|', '/usr/bin/python3', "$serverroot/s3/s3ctl.py", $endpoint, @_
        or die "python3: $!";
    local $/;
    my $out = <$p> // '';
    close $p;
    $out =~ s/\s+\z//;
    return ($? == 0, $out);
}

my %object = (    # key => [bytes, Content-Type]
    'report.pdf'        => [ 300_000, 'application/pdf' ],
    'docs/café €.txt'   => [ 5_000, 'text/plain; charset=utf-8' ],
    '100% sure+ok!.txt' => [ 2_000, 'text/plain' ],
);
my @put;
for my $key (sort keys %object) {
    my ($size, $type) = @{ $object{$key} };
    (my $file = $key) =~ tr{/}{_};
    my $path = make_file($file, $size, "$dir/objects");
    $object{$key}[0] = file_bytes($path);
    push @put, $key, $path, $type;
}
my ($uploaded, $out) = s3ctl('put', 'media', @put);
diag $out unless $uploaded;
ok($uploaded, 'the objects are uploaded (boto3)');

my $ua = LWP::UserAgent->new(timeout => 30, max_redirect => 0);

# Presigned URLs' paths and queries for the test's own requests, made in
# one run of s3ctl.py (boto3 takes a second to load).
my %presigned;
{
    my @wanted = ((map { (get => $_) } keys %object, 'no such object.txt'),
                  head => 'report.pdf');
    my ($ok, $out) = s3ctl('presign', 'media', @wanted);
    my @urls = split /\n/, $out;
    diag $out unless $ok && @urls == @wanted / 2;
    while (my ($method, $key) = splice @wanted, 0, 2) {
        ($presigned{"$method $key"} = shift(@urls) // '') =~ s{^\Q$endpoint\E}{};
    }
}
sub presigned {
    my ($key, $method) = @_;
    return $presigned{($method // 'get') . " $key"} // die "not presigned: $key\n";
}
my $res = $ua->get($endpoint . presigned('report.pdf'));
ok($res->code == 200 && $res->content eq $object{'report.pdf'}[0],
   'baseline: the store serves a presigned URL itself') or diag $res->status_line;
$res = $ua->get($endpoint . presigned('report.pdf') . '0');
is($res->code, 403, 'baseline: the store checks signatures (a changed one: 403)');

# ---- the recipe, and copies of its locations with one line changed ----
my $recipe = readme_recipe('s3');
my %subst = ('http://s3.internal.example:9000' => $endpoint, '/srv/app' => "$dir/app");
for my $lang (qw(apache python)) {
    die "README.md: recipe s3 has no $lang block\n" unless defined $recipe->{$lang};
    for my $from (sort keys %subst) {
        $recipe->{$lang} =~ s/\Q$from\E/$subst{$from}/g
            or $from eq '/srv/app' && $lang eq 'python'
            or die "README.md: recipe s3's $lang block no longer says $from\n";
    }
}
my $apache = $recipe->{apache};

# The block of `<Location $loc>`, renamed to $name, with $change applied
# (a sub acting on $_); it must change something, or the README moved on.
sub variant {
    my ($loc, $name, $change) = @_;
    my ($block) = $apache =~ m{^(<Location \Q$loc\E>\n.*?^</Location>\n)}ms
        or die "README.md: recipe s3 has no <Location $loc>\n";
    local $_ = $block;
    s{^<Location \Q$loc\E>}{<Location $name>} or die;
    my $renamed = $_;
    $change->();
    die "README.md: recipe s3's <Location $loc> no longer has what $name changes\n"
        if $_ eq $renamed;
    return $_;
}
my ($script_alias) = $apache =~ m{^(WSGIScriptAlias /media .*\n)}m
    or die "README.md: recipe s3 has no WSGIScriptAlias /media\n";
# The application again at $name (no prefix of another location's: a
# <Location /media> would also match /media-x), its location changed.
sub app_variant {
    my ($name, $change) = @_;
    (my $alias = $script_alias) =~ s{^WSGIScriptAlias /media }{WSGIScriptAlias $name };
    return $alias . variant('/media', $name, $change);
}
my $variants = join "\n",
    variant('/s3-internal/', '/s3-canon/', sub { s/ nocanon$//m }),
    variant('/s3-internal/', '/s3-preserve/', sub { s/^(\s*ProxyPreserveHost) Off$/$1 On/m }),
    variant('/s3-internal/', '/s3-auth/', sub { s/^\s*RequestHeader unset Authorization\n//m }),
    variant('/s3-internal/', '/s3-xml/', sub { s/^\s*ProxyErrorOverride On\n//m }),
    app_variant('/head-mapped', sub { s/^(\s*WSGIMapHEADToGET) Off$/$1 On/m });

open my $fh, '>', "$dir/app/app.py" or die $!;
print $fh $recipe->{python};
close $fh;
chmod 0644, "$dir/app/app.py";

# Python only in daemons (WSGIRestrictEmbedded): httpd then stops at once.
my $httpd = start_httpd(name => 's3', conf => <<"CONF");
LogLevel info xsendfile:debug proxy:debug
WSGISocketPrefix $dir/wsgi
WSGIRestrictEmbedded On

# ---- README.md, recipe s3 ----
$apache
# ---- the test's own: a backend answering any X-Accel-Redirect it is given ----
WSGIDaemonProcess relay threads=2
WSGIScriptAlias /relay $serverroot/wsgi/app.wsgi process-group=relay application-group=%{GLOBAL}
<Directory $serverroot/wsgi>
    Require all granted
</Directory>
<Location /relay>
    XSendFile On
</Location>

# ---- the recipe's locations, each with one line taken away or turned around ----
$variants
CONF
push @pids, $httpd->{pid};
ok(IO::Socket::INET->new(PeerAddr => "127.0.0.1:$httpd->{port}"),
   'httpd runs the README\'s configuration')
    or die "httpd did not start:\n" . file_bytes($httpd->{error_log});

my $base = "http://127.0.0.1:$httpd->{port}";
sub path_enc { (my $s = shift) =~ s{([^A-Za-z0-9_.~/-])}{sprintf '%%%02X', ord $1}ge; $s }
sub media { $base . '/media/' . path_enc(shift) }
# The test's relay, redirecting to $target plus a presigned path and query.
sub relay {
    my ($target, $key, $method) = @_;
    return "$base/relay?accel=" . qenc("/$target" . presigned($key, $method));
}
sub store_etag { '"' . md5_hex(shift) . '"' }

# ---- the recipe ----
my $pdf = $object{'report.pdf'}[0];
$res = $ua->get(media('report.pdf'));
is($res->code, 200, 'GET: 200');
ok($res->content eq $pdf, 'GET: the object\'s bytes') or diag length($res->content) . ' bytes';
is($res->header('Content-Length'), length $pdf, 'GET: its Content-Length');
is($res->header('ETag'), store_etag($pdf), 'GET: the store\'s ETag (MD5 of the object)');
is($res->header('Content-Type'), 'application/pdf', 'GET: the object\'s Content-Type');
ok(!defined $res->header('X-Accel-Redirect'), 'GET: no X-Accel-Redirect reaches the client');

$res = $ua->get(media('report.pdf'), Range => 'bytes=1000-1999');
is($res->code, 206, 'Range: 206 from the store');
ok($res->content eq substr($pdf, 1000, 1000), 'Range: the right bytes');
is($res->header('Content-Range'), 'bytes 1000-1999/' . length $pdf, 'Range: Content-Range');
# s3rver answers a suffix range wrongly (bytes=-100 as 0-100): what matters
# here is that the client's header reaches the store and its answer the client.
my $direct = $ua->get($endpoint . presigned('report.pdf'), Range => 'bytes=-100');
$res = $ua->get(media('report.pdf'), Range => 'bytes=-100');
ok($res->code == $direct->code && $res->content eq $direct->content
   && $res->header('Content-Range') eq $direct->header('Content-Range'),
   'suffix Range: the store\'s own answer') or diag $res->status_line;
$res = $ua->get(media('report.pdf'), 'If-None-Match' => store_etag($pdf));
is($res->code, 304, 'If-None-Match: 304 from the store');
$res = $ua->get(media('report.pdf'), 'If-None-Match' => '"other"');
is($res->code, 200, 'If-None-Match, another ETag: 200');

$res = $ua->head(media('report.pdf'));
is($res->code, 200, 'HEAD: 200 (presigned for HEAD)');
is($res->header('Content-Length'), length $pdf, 'HEAD: the object\'s Content-Length');
is($res->content, '', 'HEAD: no body');

for my $key ('docs/café €.txt', '100% sure+ok!.txt') {
    my $want = $object{$key}[0];
    $res = $ua->get(media($key));
    is($res->code, 200, "$key: 200");
    ok($res->content eq $want, "$key: its bytes");
    $res = $ua->get(media($key), Range => 'bytes=10-19');
    ok($res->code == 206 && $res->content eq substr($want, 10, 10), "$key: Range");
}
is($ua->get(media('docs/café €.txt'))->header('Content-Type'), 'text/plain; charset=utf-8',
   'non-ASCII key: its Content-Type');

$res = $ua->get(media('no such object.txt'));
is($res->code, 404, 'missing object: 404');
unlike($res->content, qr/NoSuchKey|<Error>/, 'missing object: Apache\'s page, not the store\'s XML');

$res = $ua->get(media('report.pdf'), Authorization => 'Basic dXNlcjpwYXNz', Cookie => 'session=1');
is($res->code, 200, 'a client\'s Authorization and Cookie do not reach the store: 200');

$res = $ua->get($base . '/s3-internal' . presigned('report.pdf'));
is($res->code, 404, 'the internal location, asked directly with a valid signed URL: 404');
$res = $ua->get($base . '/s3-internal/media/report.pdf');
is($res->code, 404, 'the internal location, asked directly: 404');

# ---- the signed query survives the redirect and the proxy intact ----
$res = $ua->get(relay('s3-internal', 'report.pdf'));
ok($res->code == 200 && $res->content eq $pdf, 'X-Accel-Redirect to a presigned URL: the object');
my $signed = presigned('report.pdf');
my %tampered = (
    'the signature' => $signed =~ s/(X-Amz-Signature=[0-9a-f]*)([0-9a-f])/$1 . ($2 eq '0' ? '1' : '0')/er,
    'the key' => $signed =~ s{/report\.pdf\?}{/docs/report.pdf?}r,
    'X-Amz-Expires' => $signed =~ s/X-Amz-Expires=300/X-Amz-Expires=301/r,
    'X-Amz-Date' => $signed =~ s/(X-Amz-Date=\d{8}T\d{4})(\d)/$1 . ($2 eq '0' ? '1' : '0')/er,
);
for my $what (sort keys %tampered) {
    isnt($tampered{$what}, $signed, "tampered $what: the URL changed");
    $res = $ua->get("$base/relay?accel=" . qenc("/s3-internal$tampered{$what}"));
    is($res->code, 403, "tampered $what: 403 from the store");
}
$res = $ua->head(relay('s3-internal', 'report.pdf', 'get'));
is($res->code, 403, 'HEAD with a URL presigned for GET: 403 (the method is signed)');
$res = $ua->head(relay('s3-internal', 'report.pdf', 'head'));
is($res->code, 200, 'HEAD with a URL presigned for HEAD: 200');
$res = $ua->get("$base/relay?accel=" . qenc('/s3-internal/media/a/../report.pdf?x=1'));
is($res->code, 404, 'a key with a .. segment: 404 from the module');

# ---- each line the README calls necessary, taken away or turned around ----
$res = $ua->get(relay('s3-canon', '100% sure+ok!.txt'));
is($res->code, 403, 'without nocanon: a key with + and ! gets 403');
$res = $ua->get(relay('s3-canon', 'report.pdf'));
is($res->code, 200, '... while a plain key still works there');
$res = $ua->get(relay('s3-preserve', 'report.pdf'));
is($res->code, 403, 'ProxyPreserveHost On: 403');
$res = $ua->get(relay('s3-auth', 'report.pdf'), Authorization => 'Basic dXNlcjpwYXNz');
is($res->code, 400, 'without RequestHeader unset Authorization: a client\'s Authorization gets 400');
$res = $ua->get(relay('s3-auth', 'report.pdf'));
is($res->code, 200, '... and none gets 200');
$res = $ua->get("$base/relay?accel=" . qenc('/s3-xml' . presigned('no such object.txt')));
ok($res->code == 404 && $res->content =~ /NoSuchKey/,
   'without ProxyErrorOverride: the store\'s XML reaches the client');
$res = $ua->head("$base/head-mapped/report.pdf");
is($res->code, 403, 'WSGIMapHEADToGET On: the app presigns GET for a HEAD: 403');
$res = $ua->get("$base/head-mapped/report.pdf");
ok($res->code == 200 && $res->content eq $pdf, '... where GET still works');

unless (Test::More->builder->is_passing) {
    my @log = split /^/, file_bytes($httpd->{error_log});
    diag "---- the end of $httpd->{error_log} ----";
    diag join '', @log[($#log > 40 ? $#log - 40 : 0) .. $#log];
}
