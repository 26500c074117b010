#!/usr/bin/php-cgi
<?php
// Plain PHP (php-cgi as a CGI script): the documented way, header()
// with the file's path as it is on disk, raw UTF-8 bytes and all.
// ?name= names a file below htdocs/files/fw.
$name = isset($_GET['name']) ? $_GET['name'] : '';
if ($name === '' || strpos($name, '/') !== false || strpos($name, '..') !== false) {
    http_response_code(404);
    exit;
}
$path = $_SERVER['DOCUMENT_ROOT'] . '/files/fw/' . $name;
header('Content-Type: text/plain; charset=utf-8');
header('Content-Disposition: attachment; filename*=UTF-8\'\'' . rawurlencode($name));
header('X-Sendfile: ' . $path);
