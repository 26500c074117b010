# One source per fact: the defaults live in mod_xsendfile.c (XSF_DEFAULT_*),
# the module's help texts quote them, and the documents must say the same.
# The help texts are read from the module under test itself (httpd -L); the
# directive tables of README.md and docs/SPEC.md must list every directive
# with that default, and the README's log table every message id the
# source uses.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use XSF::Test;

my $src = $ENV{XSF_SRCDIR} or die "XSF_SRCDIR is not set (t/run-apache-tests.sh sets it)\n";
my $t = Apache::Test::vars('t_dir');
my $httpd = Apache::Test::vars('httpd');

# Directive => default as its help text gives it ("" where it has none).
my %help;
my $name;
for (`$httpd -d $t -f $t/conf/httpd.conf -L 2>&1`) {
    if (/^(XSendFile\w*) \(mod_xsendfile\.c\)/) { $name = $1; $help{$name} = ''; next }
    if ($name && /^\t.*\(default ([^;)]+)/) { $help{$name} = $1 }
    $name = undef if /^\S/ && !/^XSendFile/;
}

# Directive => default column of a Markdown table whose rows start `| `Name ...`.
sub table_defaults {
    my ($file) = @_;
    my %d;
    open my $fh, '<', "$src/$file" or die "$src/$file: $!";
    while (my $line = <$fh>) {
        my @cells = split /\s*(?<!\\)\|\s*/, $line;
        next unless @cells > 4 && $cells[1] =~ /^`(XSendFile\w*)/;
        $d{$1} = $cells[3];
    }
    return \%d;
}

my %tables = map { $_ => table_defaults($_) } 'README.md', 'docs/SPEC.md';

open my $fh, '<', "$src/mod_xsendfile.c" or die $!;
my %ids = map { $_ => 1 } do { local $/; <$fh> } =~ /\b(XSF\d{4})\b/g;
open $fh, '<', "$src/README.md" or die $!;
my %logged = map { /^\| (XSF\d{4}) \|/ ? ($1 => 1) : () } <$fh>;

plan tests => 1 + 2 * keys(%help) + 2 + keys(%ids);

ok(keys %help >= 10, 'httpd -L lists the module\'s directives (' . keys(%help) . ')');
for my $d (sort keys %help) {
    my $want = $help{$d} eq '' ? 'none' : $help{$d};
    for my $file (sort keys %tables) {
        is($tables{$file}{$d}, $want, "$file: $d defaults to $want, as the module says");
    }
}
for my $file (sort keys %tables) {
    my @extra = grep { !exists $help{$_} } keys %{ $tables{$file} };
    ok(!@extra, "$file: no directive the module does not have") or diag "@extra";
}
for my $id (sort keys %ids) {
    ok($logged{$id}, "README's log table has $id");
}
