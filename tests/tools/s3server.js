#!/usr/bin/env node
// An S3-compatible server for the tests: s3rver (web/node_modules) on
// 127.0.0.1, an ephemeral port, with one access key pair and the buckets
// given. Prints "PORT <n>" once listening; appends "LIST <bucket> <prefix>"
// and "GET <bucket> <key>" to the request log, so tests can count calls.
// s3rver checks that an access key id exists but not SigV4 signatures, so
// this wrapper checks them (AWS's canonical request, computed from the
// request as received) and answers SignatureDoesNotMatch: a wrong secret, or
// a client that signs a URL other than the one it sends, fails as on AWS.
// Run with node --openssl-legacy-provider: s3rver's continuation tokens use DES.
// The file LOGFILE.fail, when present, holds a count: that many GETs of
// objects are answered 503 SlowDown (-1: all of them), as a throttling store.
// $S3SERVER_DELAY_MS delays every answer (a network's round trip, for bench-s3).
// usage: s3server.js DIR LOGFILE KEY_ID SECRET BUCKET...
'use strict';
const crypto = require('crypto');
const path = require('path');
const fs = require('fs');
const mods = path.join(__dirname, '..', '..', 'web', 'node_modules');
const S3rver = require(path.join(mods, 's3rver'));
const { DUMMY_ACCOUNT } = require(path.join(mods, 's3rver', 'lib', 'models', 'account'));

const [dir, logFile, keyId, secret, ...buckets] = process.argv.slice(2);
// Only the test's key pair is valid: the built-in S3RVER key is revoked.
DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
DUMMY_ACCOUNT.createKeyPair(keyId, secret);
const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: dir,
  // Virtual-host requests: http://<bucket>.s3.localhost:<port>/<key>.
  serviceEndpoint: 'localhost',
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
const log = (line) => fs.appendFileSync(logFile, line + '\n');
const listObjects = server.store.listObjects.bind(server.store);
server.store.listObjects = (bucket, options) => {
  log(`LIST ${bucket} ${(options && options.prefix) || ''}`);
  return listObjects(bucket, options);
};
const getObject = server.store.getObject.bind(server.store);
server.store.getObject = (bucket, key, options) => {
  log(`GET ${bucket} ${key}`);
  return getObject(bucket, key, options);
};
const enc = (str) => encodeURIComponent(str).replace(/[!'()*]/g,
  (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const dec = (str) => decodeURIComponent(str.replace(/\+/g, '%20'));
const hmac = (k, m) => crypto.createHmac('sha256', k).update(m).digest();
function sigv4Error(req) {
  const auth = req.headers.authorization || '';
  const m = auth.match(/^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/);
  if (!m) return auth ? 'malformed Authorization' : null;
  const [, id, day, region, signed, sig] = m;
  if (id !== keyId) return null;  // s3rver answers InvalidAccessKeyId
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const uri = rawPath.split('/').map((c) => enc(dec(c))).join('/');
  const query = q < 0 ? '' : req.url.slice(q + 1).split('&').filter((x) => x)
    .map((kv) => { const i = kv.indexOf('='); return i < 0 ? [dec(kv), ''] : [dec(kv.slice(0, i)), dec(kv.slice(i + 1))]; })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => enc(k) + '=' + enc(v)).join('&');
  const headers = signed.split(';').map((h) => h + ':' +
    String(req.headers[h] || '').trim().replace(/\s+/g, ' ') + '\n').join('');
  const payload = req.headers['x-amz-content-sha256'] || '';
  const canon = [req.method, uri, query, headers, signed, payload].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope,
    crypto.createHash('sha256').update(canon).digest('hex')].join('\n');
  let k = hmac('AWS4' + secret, day);
  k = hmac(hmac(hmac(k, region), 's3'), 'aws4_request');
  return hmac(k, toSign).toString('hex') === sig ? null : 'signature';
}
const delayMs = Number(process.env.S3SERVER_DELAY_MS || 0);
function throttled() {
  let n;
  try {
    n = Number(fs.readFileSync(logFile + '.fail', 'utf8'));
  } catch (e) {
    return false;
  }
  if (n === 0 || Number.isNaN(n)) return false;
  if (n > 0) fs.writeFileSync(logFile + '.fail', String(n - 1));
  return true;
}
const callback = server.callback.bind(server);
server.callback = () => {
  const handle = callback();
  return (req, res) => {
    const bad = sigv4Error(req);
    if (!bad && req.method === 'GET' && !req.url.includes('?') && throttled()) {
      log(`SLOWDOWN ${req.url}`);
      res.statusCode = 503;
      res.setHeader('Content-Type', 'application/xml');
      res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>' +
        '<Message>Please reduce your request rate.</Message></Error>');
      return undefined;
    }
    if (!bad && delayMs > 0) return setTimeout(() => handle(req, res), delayMs);
    if (!bad) return handle(req, res);
    log(`DENIED ${req.method} ${req.url} ${bad}`);
    res.statusCode = 403;
    res.setHeader('Content-Type', 'application/xml');
    res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>' +
      '<Message>The request signature we calculated does not match the signature you provided. ' +
      'Check your key and signing method.</Message></Error>');
  };
};
server.run().then(({ port }) => {
  process.stdout.write(`PORT ${port}\n`);
});
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
