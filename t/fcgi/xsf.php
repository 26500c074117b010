<?php
// Test backend behind mod_proxy_fcgi (php-cgi as a FastCGI server): the
// trigger header from the query's `file`, and a body to be discarded.
if (isset($_GET['file'])) {
    header('X-SendFile: ' . $_GET['file']);
}
header('Content-Type: text/plain');
echo str_repeat('p', (int)($_GET['body'] ?? 0));
