# SPEC §5: output filters still apply to a served file: mod_deflate
# compresses it where configured (SetOutputFilter and AddOutputFilterByType),
# and mod_headers' edits act on the final response.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Compress::Zlib ();
use XSF::Test;

my $file = make_file('filters/big.txt', 50_000);
my $want = file_bytes($file);

plan tests => 2 * 4 + 3;

for my $prefix (qw(cgi-deflate cgi-deflate-bytype)) {
    my $res = GET(backend_url($prefix, file => $file, body => 1000),
                  'Accept-Encoding' => 'gzip');
    is($res->code, 200, "$prefix: 200");
    is($res->header('Content-Encoding'), 'gzip', "$prefix: compressed by mod_deflate");
    my $plain = Compress::Zlib::memGunzip($res->content);
    ok(defined $plain && $plain eq $want, "$prefix: decompresses to the file");
    ok(length($res->content) < length($want), "$prefix: smaller than the file");
}

my $res = GET backend_url('cgi-noetag', file => $file);
is($res->code, 200, 'Header unset ETag: 200');
ok(!defined $res->header('ETag'), 'Header unset ETag: no ETag on the served file');
ok($res->content eq $want, 'Header unset ETag: the file');
