# SPEC §1: directive arguments are checked when httpd reads its
# configuration; a bad one stops it with a message that names the problem.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use XSF::Test;

my $httpd = Apache::Test::vars('httpd');
my $so = $ENV{XSF_MODULE} or die "XSF_MODULE not set\n";
my ($mpm) = grep { /mpm_/ } split /\n/, file_bytes(Apache::Test::vars('serverroot') . '/base-httpd.conf');
my $dir = tempdir(CLEANUP => 1);
my $root = files_dir();

# httpd -t on a minimal configuration with the given lines.
sub config_test {
    my @lines = @_;
    my $conf = "$dir/httpd.conf";
    open my $fh, '>', $conf or die $!;
    print $fh "ServerRoot $dir\nServerName localhost\nListen 127.0.0.1:1\n",
              "ErrorLog $dir/error_log\n$mpm\nLoadModule xsendfile_module $so\n",
              map { "$_\n" } @lines;
    close $fh;
    my $out = `'$httpd' -t -f '$conf' 2>&1`;
    return ($? >> 8, $out);
}

my @good = (
    ["XSendFilePath $root", "XSendFilePath $root AllowFileDelete", 'XSendFile On',
     'XSendFileStreamBuffer 64K', 'XSendFileStreamBuffer 2g', 'XSendFileStreamTimeout 5',
     'XSendFileAnnounce X-Accel-Redirect', 'XSendFileAnnounce off',
     'XSendFileAccelMapping /srv/files/=/protected/ /srv/b/=/b/'],
);
my @bad = (
    ['XSendFilePath relative/dir', qr/XSendFilePath/],
    ["XSendFilePath $root/does-not-exist", qr/XSendFilePath/],
    ["XSendFilePath $root DeleteEverything", qr/unknown option 'DeleteEverything'/],
    ['XSendFileStreamBuffer 12Q', qr/XSendFileStreamBuffer: '12Q' is not a size/],
    ['XSendFileStreamBuffer -5', qr/is not a size/],
    ['XSendFileStreamBuffer 1K', qr/at least 64K/],
    ['XSendFileStreamBuffer 99999999999G', qr/is not a size/],
    ['XSendFileStreamTimeout 0', qr/XSendFileStreamTimeout: '0'/],
    ['XSendFileStreamTimeout 10s', qr/XSendFileStreamTimeout: '10s'/],
    ['XSendFile maybe', qr/XSendFile/],
    ['XSendFileAnnounce X-Sendfile-Type', qr/XSendFileAnnounce: 'X-Sendfile-Type' is not On, Off or X-Accel-Redirect/],
    ['XSendFileAccelMapping srv/files/=/protected/', qr/XSendFileAccelMapping: 'srv\/files\/=\/protected\/' is not/],
    ['XSendFileAccelMapping /srv/files/', qr/XSendFileAccelMapping: '\/srv\/files\/' is not/],
    ['XSendFileAccelMapping /srv/files/=protected', qr/XSendFileAccelMapping: .* is not/],
);

plan tests => 2 + @bad * 2;

my ($rc, $out) = config_test(@{ $good[0] });
is($rc, 0, 'valid directives: httpd -t passes') or diag $out;
like($out, qr/Syntax OK/, 'valid directives: Syntax OK');
for my $b (@bad) {
    my ($line, $msg) = @$b;
    ($rc, $out) = config_test($line);
    isnt($rc, 0, "'$line': refused");
    like($out, $msg, "'$line': says why") or diag $out;
}
