# mod_cache in front of the module (mod_cache_disk), with CacheQuickHandler
# On (httpd's default, the cache answers before any other hook) and Off:
# - SPEC §7: what an XSendFileInternal location serves to an X-Accel-Redirect
#   is never stored, so a client asking that URL directly still gets 404,
#   for the <Location> and the <Directory> form;
# - SPEC §5: a file the module serves is stored only where the backend said
#   it may be; a download checked against one user's cookie is never handed
#   to the next client from the cache;
# - SPEC §10, X-Accel-Expires: the lifetime mod_cache gives the stored
#   response, whatever Cache-Control and Expires the client gets (those
#   stay as the backend sent them); a lifetime counts as the backend
#   allowing a shared cache to store the download; `off`, 0 and a time
#   gone by keep it out.
# Each mode runs in an httpd of its own, started here.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use XSF::Test;

my $store = docroot() . '/cache-store';
my $store2 = docroot() . '/cache-store-dir';
my $doc = file_bytes(make_file('doc.txt', 3000, $store));
make_file('doc.txt', 3000, $store2);
my $private = file_bytes(make_file('cache/private.txt', 5000));

sub config {
    my ($quick, $dir) = @_;
    return <<"CONF";
DocumentRoot ${\docroot()}
CacheRoot $dir/cache
CacheQuickHandler $quick
CacheHeader On
CacheEnable disk /app/
CacheEnable disk /protected/
CacheEnable disk /internal-dir/
CacheEnable disk /open/
XSendFilePath ${\files_dir()}
${\cgi_app_conf($dir)}<Directory $store>
    Require all granted
</Directory>
Alias /protected/ $store/
Alias /open/ $store/
<Location /protected/>
    XSendFileInternal On
</Location>
Alias /internal-dir/ $store2/
<Directory $store2>
    Require all granted
    XSendFileInternal On
</Directory>
CONF
}

# mod_cache_disk commits an entry as the response ends, which may be a
# moment after the client has it: ask again a bounded number of times.
sub from_cache {
    my ($url) = @_;
    my $res;
    for (1 .. 20) {
        $res = GET $url;
        last if ($res->header('X-Cache') // '') =~ /^HIT/;
        select undef, undef, undef, 0.1;
    }
    return $res;
}

plan tests => 2 * 33;

for my $quick (qw(On Off)) {
    my $name = "cache-quick-\L$quick";
    my $dir = Apache::Test::vars('t_logs') . "/httpd-$name";
    mkdir $dir;
    mkdir "$dir/cache";
    chmod 0777, $dir, "$dir/cache";
    my $httpd = start_httpd(name => $name, conf => config($quick, $dir));
    my $base = "http://127.0.0.1:$httpd->{port}";
    my $what = "CacheQuickHandler $quick";

    # The cache works here: a public static file is stored and served from it.
    GET "$base/open/doc.txt";
    my $res = from_cache("$base/open/doc.txt");
    like($res->header('X-Cache') // '', qr/^HIT/, "$what: a static file comes from the cache the second time");

    for my $target ('/protected/doc.txt', '/internal-dir/doc.txt') {
        my $form = $target =~ /protected/ ? '<Location>' : '<Directory>';
        for (1 .. 2) {
            $res = GET "$base/app/xsf.cgi?accel=$target";
            is($res->code, 200, "$what, $form: X-Accel-Redirect to the internal location: 200") if $_ == 1;
        }
        ok($res->content eq $doc, "$what, $form: ... the target's bytes");
        $res = GET "$base$target";
        is($res->code, 404, "$what, $form: a client asking directly still gets 404");
        unlike($res->header('X-Cache') // '', qr/HIT/, "$what, $form: ... not from the cache");
    }

    my $url = "$base/app/private.cgi/none/cache/private.txt";
    for (1 .. 2) {
        $res = GET($url, Cookie => 'session=ok');
    }
    ok($res->code == 200 && $res->content eq $private, "$what: the logged-in user gets the download");
    $res = GET $url;
    is($res->code, 403, "$what: an anonymous client gets 403, not the cached download");
    unlike($res->content, qr/^A0/, "$what: ... and none of its bytes");

    # Where the backend says so (Cache-Control: public), storing is its choice.
    my $public = "$base/app/private.cgi/public,max-age=60/cache/private.txt";
    GET($public, Cookie => 'session=ok');
    $res = from_cache($public);
    is($res->code, 200, "$what: Cache-Control public: stored, as the backend allowed");
    like($res->header('X-Cache') // '', qr/^HIT/, "$what: ... served from the cache");
    is($res->header('Cache-Control'), 'public,max-age=60', "$what: the backend's Cache-Control reaches the client");

    # ---- X-Accel-Expires ----
    my $xae = sub { my ($cc, $v) = @_; "$base/app/private.cgi/$cc/xae=$v/cache/private.txt" };
    # A lifetime where the backend said nothing about caching: stored, and
    # then served from the cache to anyone (the backend's decision).
    my $url60 = $xae->('none', 60);
    $res = GET($url60, Cookie => 'session=ok');
    ok($res->code == 200 && $res->content eq $private, "$what, X-Accel-Expires: 60: the download");
    ok(!defined $res->header('X-Accel-Expires') && !defined $res->header('Expires')
       && !defined $res->header('Cache-Control'),
       "$what, X-Accel-Expires: 60: the client gets no X-Accel-Expires, Expires or Cache-Control");
    $res = from_cache($url60);
    like($res->header('X-Cache') // '', qr/^HIT/, "$what, X-Accel-Expires: 60: stored, served from the cache");
    ok($res->code == 200 && $res->content eq $private, "$what, X-Accel-Expires: 60: ... the download's bytes");
    ok(!defined $res->header('Expires') && !defined $res->header('Cache-Control'),
       "$what, X-Accel-Expires: 60: ... the headers as the backend sent them");
    my $at_url = $xae->('none', '@' . (time + 60));
    GET($at_url, Cookie => 'session=ok');
    $res = from_cache($at_url);
    like($res->header('X-Cache') // '', qr/^HIT/, "$what, X-Accel-Expires: \@<a minute ahead>: stored");

    # The lifetime is X-Accel-Expires', not Cache-Control's: max-age=1 for
    # the client stays fresh 60 s in the cache, max-age=60 ends after 1 s.
    my $longer = $xae->('public,max-age=1', 60);
    my $shorter = $xae->('public,max-age=60', 1);
    for my $u ($longer, $shorter) {
        GET($u, Cookie => 'session=ok');
        like(from_cache($u)->header('X-Cache') // '', qr/^HIT/, "$what: $u stored");
    }
    sleep 3;
    $res = GET $longer;
    like($res->header('X-Cache') // '', qr/^HIT/,
         "$what, max-age=1, X-Accel-Expires: 60: still fresh after 3 s");
    is($res->header('Cache-Control'), 'public,max-age=1', "$what: ... the client's Cache-Control unchanged");
    $res = GET($shorter, Cookie => 'session=ok');
    unlike($res->header('X-Cache') // '', qr/^HIT/,
           "$what, max-age=60, X-Accel-Expires: 1: stale after 3 s");
    ok($res->code == 200 && $res->content eq $private, "$what: ... the download, fetched again");

    # off, 0 and a time gone by: never stored, whatever Cache-Control says.
    for my $v ('off', '0', '@' . (time - 60)) {
        my $u = $xae->('public,max-age=60', $v);
        $res = GET($u, Cookie => 'session=ok');
        ok($res->code == 200 && $res->content eq $private, "$what, X-Accel-Expires: $v: the download");
        $res = from_cache($u);
        unlike($res->header('X-Cache') // '', qr/^HIT/, "$what, X-Accel-Expires: $v: not stored");
    }

    stop_httpd($httpd);
}
