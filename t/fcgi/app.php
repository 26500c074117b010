<?php
// The application resource of t/cgi-bin/app.cgi, in PHP behind
// mod_proxy_fcgi (t/transparent.t): httpd evaluates a GET's preconditions
// against these validators; PUT and DELETE check If-Match themselves.
$etag = '"php-v1"';
$method = $_SERVER['REQUEST_METHOD'];
$seen = [];
foreach (['IF_MATCH', 'IF_NONE_MATCH', 'IF_MODIFIED_SINCE', 'IF_UNMODIFIED_SINCE',
          'IF_RANGE', 'RANGE'] as $h) {
    if (isset($_SERVER["HTTP_$h"])) {
        $seen[] = "$h=" . $_SERVER["HTTP_$h"];
    }
}
$body = file_get_contents('php://input');
header('X-Seen-Preconditions: ' . implode('; ', $seen));
header('Content-Type: text/plain');
if ($method === 'GET' || $method === 'HEAD') {
    header("ETag: $etag");
    header('Last-Modified: Tue, 01 Oct 2024 10:00:00 GMT');
    echo "the resource\n";
} elseif ($method === 'PUT' || $method === 'DELETE') {
    $if_match = $_SERVER['HTTP_IF_MATCH'] ?? null;
    if ($if_match !== null && $if_match !== '*' && $if_match !== $etag) {
        http_response_code(412);
        echo "stale: not changed\n";
    } else {
        echo $method === 'PUT' ? 'updated with ' . strlen($body) . " bytes\n" : "deleted\n";
    }
} else {
    echo 'posted ' . strlen($body) . " bytes\n";
}
