# SPEC §4: a root is the directory configured when Apache started.  If it is
# replaced while the server runs (renamed away, a symlink to elsewhere or
# another directory put in its place), nothing is served or deleted from
# what now stands at its name: the request gets 500 and the log says why.
# And the limits an administrator sets hold in .htaccess: a .htaccess can
# turn XSendFileFollowSymlinks Off, never back On.
# Runs in an httpd of its own, started here, so that the roots it swaps
# belong to no other test.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use File::Path qw(remove_tree);
use XSF::Test;

my $top = docroot() . '/roots';
my $root = "$top/files";
my $elsewhere = "$top/elsewhere";
my $asis = "$top/asis";
my $original = file_bytes(make_file('doc.txt', 2000, $root));
make_file('doc.txt', 2100, $elsewhere);
make_file('tmp.txt', 100, $elsewhere);
make_file('inner.txt', 300, $root);
symlink 'inner.txt', "$root/link.txt" or die "symlink: $!";

sub asis {
    my ($name, $header) = @_;
    make_asis($asis, $name, 'Content-Type: text/plain', $header);
}
asis('doc.asis', 'X-SendFile: doc.txt');
asis('abs.asis', "X-SendFile: $root/doc.txt");
asis('tmp.asis', 'X-SendFile-Temporary: tmp.txt');
asis('link.asis', 'X-SendFile: link.txt');
for my $d (qw(tight loose)) {
    mkdir "$top/$d";
    asis("../$d/link.asis", 'X-SendFile: link.txt');
}
open my $ht, '>', "$top/tight/.htaccess" or die $!;
print $ht "XSendFileFollowSymlinks On\n";         # loosening: must not take
close $ht;
open $ht, '>', "$top/loose/.htaccess" or die $!;
print $ht "XSendFileFollowSymlinks Off\n";        # tightening: takes
close $ht;
chmod 0755, $top, map { "$top/$_" } qw(files elsewhere asis tight loose);

my $httpd = start_httpd(name => 'roots', conf => <<"CONF");
DocumentRoot ${\docroot()}
XSendFilePath $root AllowFileDelete
<Directory $top>
    AddHandler send-as-is asis
    XSendFile On
    Require all granted
</Directory>
<Directory $top/tight>
    XSendFileFollowSymlinks Off
    AllowOverride FileInfo
</Directory>
<Directory $top/loose>
    AllowOverride FileInfo
</Directory>
CONF
my $base = "http://127.0.0.1:$httpd->{port}/roots";

sub log_size { -s $httpd->{error_log} // 0 }
sub log_since_has {
    my ($offset, $re) = @_;
    return substr(file_bytes($httpd->{error_log}), $offset) =~ $re;
}

plan tests => 2 + 3 * 5 + 3;

my $res = GET "$base/asis/doc.asis";
ok($res->code == 200 && $res->content eq $original, 'the root serves its file');
$res = GET "$base/asis/link.asis";
is($res->code, 200, 'a symlink inside the root is followed');

my @replacements = (
    ['a symlink to elsewhere', sub { symlink $elsewhere, $root or die $! }],
    ['another directory', sub { mkdir $root or die $!; symlink "$elsewhere/doc.txt", "$root/doc.txt" }],
    ['nothing (removed)', sub { }],
);
for my $r (@replacements) {
    my ($how, $replace) = @$r;
    my $offset = log_size();
    rename $root, "$root.orig" or die "rename: $!";
    $replace->();
    sleep 2;    # a root found intact is trusted for the rest of that second
    for my $url ('doc.asis', 'abs.asis') {
        $res = GET "$base/asis/$url";
        is($res->code, 500, "root replaced by $how: $url gets 500");
    }
    $res = GET "$base/asis/tmp.asis";
    is($res->code, 500, "root replaced by $how: X-SendFile-Temporary gets 500");
    ok(-e "$elsewhere/tmp.txt", "root replaced by $how: nothing deleted elsewhere");
    ok(log_since_has($offset, qr/XSF0018: .*\Q$root\E/),
       "root replaced by $how: the log names the root (XSF0018)");
    -l $root ? unlink $root : remove_tree($root);
    rename "$root.orig", $root or die "rename back: $!";
}
$res = GET "$base/asis/doc.asis";
ok($res->code == 200 && $res->content eq $original, 'the root restored: served again');

$res = GET "$base/tight/link.asis";
is($res->code, 403, '.htaccess cannot turn XSendFileFollowSymlinks back On');
$res = GET "$base/loose/link.asis";
is($res->code, 403, '.htaccess can turn XSendFileFollowSymlinks Off');

stop_httpd($httpd);
