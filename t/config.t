# SPEC §1: directive scopes.  A <Location> sees its parents' roots plus its
# own; nothing is served without a root in scope (a server of its own,
# started here, that has none); EnableSendfile and EnableMMAP Off still
# deliver the right bytes.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use XSF::Test;

my $secret = docroot() . '/other/secret.txt';
my $hello = files_dir() . '/hello.txt';
my $big = make_file('config/big.bin', 3_000_000);

plan tests => 13;

my $res = GET backend_url('cgi-scoped', file => $secret);
is($res->code, 200, 'a root added in a <Location> serves there');
is($res->content, "outside every root\n", '... the file');
$res = GET backend_url('cgi-bin', file => $secret);
is($res->code, 403, '... and only there: the parent scope refuses it');
$res = GET backend_url('cgi-scoped', file => $hello);
is($res->code, 200, 'the <Location> still sees the server-level roots');

$res = GET backend_url('cgi-nomap', file => $big);
is($res->code, 200, 'EnableSendfile Off, EnableMMAP Off: 200');
is(length $res->content, 3_000_000, '... full length');
ok($res->content eq file_bytes($big), '... the right bytes');

# FileETag of the scope that serves the file: None, and Digest (a hash of
# the file's bytes, computed from the opened descriptor).
$res = GET backend_url('cgi-fileetag-none', file => $hello);
is($res->code, 200, 'FileETag None: 200');
ok(!defined $res->header('ETag'), 'FileETag None: no ETag');
require Digest::SHA;
my $digest = Digest::SHA::sha1_base64(file_bytes($hello));
$res = GET backend_url('cgi-fileetag-digest', file => $hello);
like($res->header('ETag') // '', qr/^"\Q$digest\E=?"$/, 'FileETag Digest: the SHA-1 of the file');

# No XSendFilePath anywhere: 403, and the log says which directive to add.
my $asis = docroot() . '/noroot';
make_asis($asis, 'x.asis', "X-SendFile: $hello");
my $httpd = start_httpd(name => 'noroot', conf => <<"CONF");
DocumentRoot ${\docroot()}
<Directory $asis>
    AddHandler send-as-is asis
    XSendFile On
    Require all granted
</Directory>
CONF
$res = GET "http://127.0.0.1:$httpd->{port}/noroot/x.asis";
stop_httpd($httpd);
is($res->code, 403, 'no XSendFilePath in scope: 403');
unlike($res->content, qr/hello/, '... not the file');
like(file_bytes($httpd->{error_log}), qr/XSF0007: .*add 'XSendFilePath/,
     '... and the log names the directive to add (XSF0007)');
