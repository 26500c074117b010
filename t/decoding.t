# SPEC §3: whatever bytes a backend puts in the header, they reach the right
# file on a UTF-8 file system; and SPEC §4 through a live server: symlinks,
# `..`, other roots.  Each case goes through a real backend.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use MIME::Base64 qw(encode_base64);
use XSF::Test;

my $dir = files_dir() . '/dec';
my %content;
# SPEC §4: names that a decoding would turn into '..' (alice/ is where an
# application confined a user, bob/ what it must never reach from there).
my $alice_pct = 'alice/%2e%2e%2fbob%2fsecret.txt';
my $alice_word = 'alice/=?utf-8?b?' . encode_base64('../bob/secret.txt', '') . '?=';
for my $name ($alice_pct, $alice_word, 'bob/secret.txt') {
    $content{$name} = file_bytes(make_file("dec/$name", 200 + length $name));
}
for my $name ("caf\xc3\xa9 \xe2\x82\xac.txt", "\xe2\x82\xac \xe6\x9d\xb1\xe4\xba\xac.txt",
              "caf\xc3\xa9.txt", '100%.txt', 'a%41.txt', 'aA.txt', 'plain.txt', 'a+b.txt', 'a b.txt') {
    $content{$name} = file_bytes(make_file("dec/$name", 100 + length $name));
}
# Symlinks: inside the root, out of it, to /, and into the other root.
my $tmproot = docroot() . '/tmp';
make_file('dec-target.txt', 77, $tmproot);
unlink map { "$dir/$_" } qw(link-in link-out link-root link-tmp);
symlink 'plain.txt', "$dir/link-in" or die $!;
symlink '../../other/secret.txt', "$dir/link-out" or die $!;
symlink '/', "$dir/link-root" or die $!;
symlink "$tmproot/dec-target.txt", "$dir/link-tmp" or die $!;

sub pct { my $s = shift; $s =~ s/([^A-Za-z0-9_.\/-])/sprintf '%%%02X', ord $1/ge; $s }
sub b64word { '=?utf-8?b?' . encode_base64(shift, '') . '?=' }
sub qword { my ($cs, $s) = @_; $s =~ s/([^A-Za-z0-9.\/])/sprintf '=%02X', ord $1/ge; "=?$cs?q?$s?=" }

my $cafe_euro = "caf\xc3\xa9 \xe2\x82\xac.txt";
my $tokyo = "\xe2\x82\xac \xe6\x9d\xb1\xe4\xba\xac.txt";
my @cases = (
    # name, backend, header value, expected file (undef: status), status
    ['raw UTF-8 (PHP, Rack)', 'cgi', "$dir/$cafe_euro", $cafe_euro],
    ['raw UTF-8, relative', 'cgi', "dec/$tokyo", $tokyo],
    ['percent-encoded UTF-8', 'cgi', pct("$dir/$cafe_euro"), $cafe_euro],
    ['percent-encoded, relative', 'wsgi', pct("dec/$tokyo"), $tokyo],
    ['Latin-1 bytes (Django, Werkzeug)', 'wsgi', "$dir/caf\xe9.txt", "caf\xc3\xa9.txt"],
    ['RFC 2047 b, UTF-8 (Django)', 'cgi', b64word("$dir/$tokyo"), $tokyo],
    ['RFC 2047 q, UTF-8', 'cgi', qword('utf-8', "$dir/$cafe_euro"), $cafe_euro],
    ['RFC 2047 q, ISO-8859-1', 'cgi', qword('iso-8859-1', "$dir/caf\xe9.txt"), "caf\xc3\xa9.txt"],
    ['a literal % in a raw name', 'cgi', "$dir/100%.txt", '100%.txt'],
    ['a literal %2e%2e%2f name: not decoded into ..', 'cgi', "$dir/$alice_pct", $alice_pct],
    ['... over WSGI', 'wsgi', "dec/$alice_pct", $alice_pct],
    ['a literal RFC 2047 name: not decoded into ..', 'cgi', "$dir/$alice_word", $alice_word],
    ['... with XSendFileUnescape Off', 'cgi-noescape', "$dir/$alice_word", $alice_word],
    ['a raw .. is the backend\'s own', 'cgi', "$dir/alice/../bob/secret.txt", 'bob/secret.txt'],
    ['valid escape decoded first', 'cgi', "$dir/a%41.txt", 'aA.txt'],
    ['XSendFileUnescape Off: the raw name', 'cgi-noescape', "$dir/a%41.txt", 'a%41.txt'],
    ['+ stays +', 'cgi', "$dir/a+b.txt", 'a+b.txt'],
    ['symlink inside the root', 'cgi', "$dir/link-in", 'plain.txt'],
);
my @refused = (
    ['symlink out of every root', 'cgi', "$dir/link-out", 403],
    ['symlink to /', 'cgi', "$dir/link-root/etc/passwd", 403],
    ['relative .. above the root', 'cgi', '../other/secret.txt', 403],
    # SPEC §4: a decoding that adds '..' is skipped; the raw name is missing
    ['encoded .. above the root', 'cgi', 'dec/%2e%2e/%2E./other/secret.txt', 404],
    ['encoded .. into a sibling', 'wsgi', "$dir/alice/%2E%2E/bob/secret.txt", 404],
    ['RFC 2047 .. into a sibling, Unescape Off', 'cgi-noescape',
     "$dir/alice/" . qword('utf-8', '../bob/secret.txt'), 404],
    ['XSendFileFollowSymlinks Off: a symlink inside', 'cgi-nosymlinks', "$dir/link-in", 403],
    ['an empty value', 'cgi', '', 500],
    ['a decoded CR', 'cgi', "$dir/plain.txt%0d", 500],
);

plan tests => @cases * 2 + @refused + 4;

for my $c (@cases) {
    my ($name, $kind, $value, $file) = @$c;
    my $res = GET backend_url($kind, file => $value, body => 10);
    is($res->code, 200, "$name: 200");
    ok($res->content eq $content{$file}, "$name: the right file");
}
for my $c (@refused) {
    my ($name, $kind, $value, $status) = @$c;
    my $res = GET backend_url($kind, file => $value);
    is($res->code, $status, "$name: $status");
}

# X-SendFile-Encoding: url decodes even where XSendFileUnescape is Off.
my $res = GET backend_url('cgi-noescape', file => "$dir/a%41.txt", enc => 'url');
ok($res->content eq $content{'aA.txt'}, 'X-SendFile-Encoding: url, Unescape Off: decoded');

# With FollowSymlinks On a link into another root in scope is fine (§4: the
# resolved file lies inside a root).
$res = GET backend_url('cgi', file => "$dir/link-tmp");
is($res->code, 200, 'symlink into another root: 200');
is($res->content, file_bytes("$tmproot/dec-target.txt"), '... its target');
$res = GET backend_url('cgi-nosymlinks', file => "$dir/plain.txt");
is($res->code, 200, 'XSendFileFollowSymlinks Off: a plain file is still served');
