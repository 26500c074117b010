# SPEC §2: a FastCGI backend through mod_proxy_fcgi (php-cgi -b, started and
# stopped here): its headers take CGI's path through httpd (err_headers_out).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use XSF::Test;

my $listening = start_php_fcgi();

my $file = make_file('fcgi/report.bin', 70_000);
my $want = file_bytes($file);
my $static = GET '/files/fcgi/report.bin';

plan tests => 7;

ok($listening, 'php-cgi listens');
my $res = GET "/fcgi/xsf.php?file=" . qenc($file) . '&body=3000';
is($res->code, 200, 'FastCGI backend: 200');
ok($res->content eq $want, 'FastCGI backend: the file, not the body');
ok(!defined $res->header('X-SendFile'), 'FastCGI backend: no X-SendFile');
is($res->header('ETag'), $static->header('ETag'), 'FastCGI backend: the file\'s ETag');
$res = GET("/fcgi/xsf.php?file=" . qenc($file), Range => 'bytes=100-199');
is($res->code, 206, 'FastCGI backend: Range');
is($res->content, substr($want, 100, 100), 'FastCGI backend: the range\'s bytes');
