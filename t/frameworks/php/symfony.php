#!/usr/bin/php-cgi
<?php
// Symfony HttpFoundation (Debian's php-symfony-http-foundation) as a CGI
// script: a BinaryFileResponse, with the application's opt-in to the
// X-Sendfile-Type request header that the web server sends
// (mod_xsendfile's XSendFileAnnounce, On by default).  prepare() then
// sets 'X-Sendfile: <real path>' and sends no body; without the request
// header it streams the file itself (ranges included).
require_once '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';

use Symfony\Component\HttpFoundation\BinaryFileResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpFoundation\ResponseHeaderBag;

$request = Request::createFromGlobals();
$name = (string) $request->query->get('name', '');
if ($name === '' || strpos($name, '/') !== false || strpos($name, '..') !== false) {
    (new Response('', 404))->prepare($request)->send();
    exit;
}
$path = $_SERVER['DOCUMENT_ROOT'] . '/files/fw/' . $name;

BinaryFileResponse::trustXSendfileTypeHeader();
// A Content-Type of our own: prepare() would otherwise guess one with the
// symfony/mime component, which this test machine does not install.
$response = new BinaryFileResponse($path, 200, ['Content-Type' => 'application/octet-stream']);
$response->setContentDisposition(ResponseHeaderBag::DISPOSITION_ATTACHMENT, $name, 'download.bin');
$response->prepare($request);

// Not part of the recipe: what the application saw and did, for the test.
$response->headers->set('X-App-Sendfile-Type', $request->headers->get('X-Sendfile-Type', 'none'));
$response->headers->set('X-App-Offloaded', $response->headers->has('X-Sendfile')
                        || $response->headers->has('X-Accel-Redirect') ? 'yes' : 'no');
$response->send();
