/**
 * The engine's HTTP/1.1 conformance, byte for byte: each case writes raw bytes to the sidecar
 * and asserts the exact bytes the app received and the exact bytes the client got back, or, for
 * a request the engine must refuse, the status, that the connection closed, and that nothing
 * reached the app. The app is a raw socket server (test/support/raw-http.ts): it shares no
 * parser with the engine.
 */
import type { Registry } from 'prom-client';
import type { Inbound } from '../../sidecar/inbound.js';
import { RawApp, RawClient, until, type Reply } from '../support/raw-http.js';
import { compiled, startInbound } from './inbound-support.js';

/** What the sidecar appends to every forwarded head (class "unconfigured": no policy applied). */
const ADDED = 'x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-spillway-class: unconfigured\r\nx-spillway-load-level: 0\r\n';
/** The forwarded head for a request line and field lines (each ending CRLF). */
const fwd = (lines: string, added = ADDED) => `${lines}${added}\r\n`;
const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
/** What the client gets for OK: a kept connection's answer carries the idle-timeout hint (5 s, the default). */
const OK_C = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=5\r\n\r\nok';
const GET = 'GET / HTTP/1.1\r\nhost: a\r\n';

/** A step of the client: bytes to write, or text to wait for in what it got. */
type Send = string | { await: string };

interface Case {
  name: string;
  send: Send[];
  /** Exact bytes the app gets, step by step (each step answered by the same index of `reply`). */
  app?: string[];
  reply?: (string | Reply)[];
  /** Exact bytes the client gets. */
  client?: string;
  /** The connection ends after the exchange. */
  closes?: boolean;
  /** The connection is cut mid-answer: the client gets at most `client` (a prefix of it). */
  cut?: boolean;
  /** The engine refuses with this status, closes, and the app gets nothing (or exactly `app`, when the refusal comes mid-body). */
  refused?: number;
}

const accepted: Case[] = [
  { name: 'origin-form GET', send: [`${GET}\r\n`], app: [fwd(GET)], reply: [OK], client: OK_C },
  { name: 'absolute-form: origin-form upstream, Host from the authority', send: ['GET http://example.com:81/p?q=1 HTTP/1.1\r\nhost: other\r\nx-a: 1\r\n\r\n'], app: [fwd('GET /p?q=1 HTTP/1.1\r\nx-a: 1\r\n', `host: example.com:81\r\n${ADDED}`)], reply: [OK], client: OK_C },
  { name: 'absolute-form without a path', send: ['GET HTTP://h?x HTTP/1.1\r\nhost: h\r\n\r\n'], app: [fwd('GET /?x HTTP/1.1\r\n', `host: h\r\n${ADDED}`)], reply: [OK], client: OK_C },
  { name: 'OPTIONS *', send: ['OPTIONS * HTTP/1.1\r\nhost: a\r\n\r\n'], app: [fwd('OPTIONS * HTTP/1.1\r\nhost: a\r\n')], reply: [OK], client: OK_C },
  { name: 'an unknown but valid method, case kept', send: ['get / HTTP/1.1\r\nhost: a\r\n\r\n'], app: [fwd('get / HTTP/1.1\r\nhost: a\r\n')], reply: [OK], client: OK_C },
  { name: 'field values as they came: OWS, obs-text, empty', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-a:   v  w \t\r\nx-b: caf\xe9\r\nx-c:\r\n\r\n'], app: [fwd('GET / HTTP/1.1\r\nhost: a\r\nx-a:   v  w \t\r\nx-b: caf\xe9\r\nx-c:\r\n')], reply: [OK], client: OK_C },
  { name: 'empty lines before the request line are skipped', send: [`\r\n\r\n${GET}\r\n`], app: [fwd(GET)], reply: [OK], client: OK_C },
  { name: 'HTTP/1.0 without Host: Host added, answered and closed', send: ['GET /x HTTP/1.0\r\n\r\n'], app: [fwd('GET /x HTTP/1.1\r\n', `host: 127.0.0.1:APP\r\n${ADDED}`)], reply: [OK], client: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok', closes: true },
  {
    name: 'HTTP/1.0 keep-alive: kept, and a second request on it',
    send: ['GET /1 HTTP/1.0\r\nconnection: keep-alive\r\nhost: a\r\n\r\n', { await: 'ok' }, 'GET /2 HTTP/1.0\r\nhost: a\r\n\r\n'],
    app: [fwd('GET /1 HTTP/1.1\r\nhost: a\r\n'), fwd('GET /2 HTTP/1.1\r\nhost: a\r\n')],
    reply: [OK, OK],
    client: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok',
    closes: true,
  },
  { name: 'Connection: close from the client', send: ['GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n'], app: [fwd(GET)], reply: [OK], client: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok', closes: true },
  { name: 'Connection: close from the app ends only the upstream connection', send: [`${GET}\r\n`], app: [fwd(GET)], reply: [{ data: 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok', end: true }], client: OK_C },
  {
    name: 'hop-by-hop request fields dropped',
    send: ['GET / HTTP/1.1\r\nhost: a\r\nkeep-alive: 1\r\nTE: trailers\r\ntrailer: x\r\nproxy-connection: k\r\nproxy-authorization: b\r\nupgrade: h2c\r\nx-k: v\r\n\r\n'],
    app: [fwd('GET / HTTP/1.1\r\nhost: a\r\nx-k: v\r\n')],
    reply: [OK],
    client: OK_C,
  },
  { name: 'fields named in Connection dropped', send: ['GET / HTTP/1.1\r\nhost: a\r\nConnection: X-Drop, keep-alive\r\nx-drop: 1\r\nx-keep: 2\r\n\r\n'], app: [fwd('GET / HTTP/1.1\r\nhost: a\r\nx-keep: 2\r\n')], reply: [OK], client: OK_C },
  { name: 'x-forwarded-for merged, client address appended', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n'], app: [fwd(GET, ADDED.replace('127.0.0.1', '1.1.1.1, 2.2.2.2, 127.0.0.1'))], reply: [OK], client: OK_C },
  { name: 'x-forwarded-proto from the client kept', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-proto: https\r\n\r\n'], app: [fwd('GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-proto: https\r\n', ADDED.replace('x-forwarded-proto: http\r\n', ''))], reply: [OK], client: OK_C },
  { name: 'client x-spillway-* fields never reach the app', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-spillway-class: vip\r\nX-Spillway-Load-Level: 0\r\nx-spillway-reason: x\r\nx-spillwayish: kept\r\n\r\n'], app: [fwd('GET / HTTP/1.1\r\nhost: a\r\nx-spillwayish: kept\r\n')], reply: [OK], client: OK_C },
  { name: 'Content-Length body, exact', send: ['POST /u HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello'], app: [fwd('POST /u HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n') + 'hello'], reply: [OK], client: OK_C },
  { name: 'Content-Length: 0', send: ['POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n'], app: [fwd('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n')], reply: [OK], client: OK_C },
  {
    name: 'chunked body with extensions and trailers, as it came',
    send: ['POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5;a=b;c="d e"\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\ny-t: 2\r\n\r\n'],
    app: [fwd('POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n') + '5;a=b;c="d e"\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\ny-t: 2\r\n\r\n'],
    reply: [OK],
    client: OK_C,
  },
  {
    name: 'Transfer-Encoding: gzip, chunked (final chunked) is accepted',
    send: ['POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'],
    app: [fwd('POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n') + '1\r\nx\r\n0\r\n\r\n'],
    reply: [OK],
    client: OK_C,
  },
  {
    name: 'head and chunked body split at every byte',
    send: [...'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    app: [fwd('POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n') + '3\r\nabc\r\n0\r\n\r\n'],
    reply: [OK],
    client: OK_C,
  },
  {
    name: 'pipelined GETs in one write are answered in order',
    send: ['GET /1 HTTP/1.1\r\nhost: a\r\n\r\nGET /2 HTTP/1.1\r\nhost: a\r\n\r\nGET /3 HTTP/1.1\r\nhost: a\r\n\r\n'],
    app: [fwd('GET /1 HTTP/1.1\r\nhost: a\r\n'), fwd('GET /2 HTTP/1.1\r\nhost: a\r\n'), fwd('GET /3 HTTP/1.1\r\nhost: a\r\n')],
    reply: ['HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n2', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n3'],
    client: 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\nkeep-alive: timeout=5\r\n\r\n1HTTP/1.1 200 OK\r\ncontent-length: 1\r\nkeep-alive: timeout=5\r\n\r\n2HTTP/1.1 200 OK\r\ncontent-length: 1\r\nkeep-alive: timeout=5\r\n\r\n3',
  },
  {
    name: 'pipelined POST with a body, then GET',
    send: ['POST /p HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabcGET /g HTTP/1.1\r\nhost: a\r\n\r\n'],
    app: [fwd('POST /p HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n') + 'abc', fwd('GET /g HTTP/1.1\r\nhost: a\r\n')],
    reply: [OK, 'HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n'],
    client: OK_C + 'HTTP/1.1 201 Created\r\ncontent-length: 0\r\nkeep-alive: timeout=5\r\n\r\n',
  },
  {
    name: 'Expect: 100-continue: the app\'s 100 is relayed, then the body flows',
    send: ['PUT / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n', { await: '100 Continue' }, 'data'],
    app: [fwd('PUT / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 4\r\n'), 'data'],
    reply: ['HTTP/1.1 100 Continue\r\n\r\n', OK],
    client: 'HTTP/1.1 100 Continue\r\n\r\n' + OK_C,
  },
  {
    name: 'HEAD: no body read after a Content-Length head, connection reused',
    send: ['HEAD / HTTP/1.1\r\nhost: a\r\n\r\n', { await: '\r\n\r\n' }, `${GET}\r\n`],
    app: [fwd('HEAD / HTTP/1.1\r\nhost: a\r\n'), fwd(GET)],
    reply: ['HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n', OK],
    client: 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\nkeep-alive: timeout=5\r\n\r\n' + OK_C,
  },
  { name: '204 has no body', send: [`${GET}\r\n`, { await: '\r\n\r\n' }, `${GET}\r\n`], app: [fwd(GET), fwd(GET)], reply: ['HTTP/1.1 204 No Content\r\n\r\n', OK], client: 'HTTP/1.1 204 No Content\r\nkeep-alive: timeout=5\r\n\r\n' + OK_C },
  { name: '304 has no body despite Content-Length', send: [`${GET}\r\n`, { await: '\r\n\r\n' }, `${GET}\r\n`], app: [fwd(GET), fwd(GET)], reply: ['HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n', OK], client: 'HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\nkeep-alive: timeout=5\r\n\r\n' + OK_C },
  { name: '103 Early Hints relayed before the answer', send: [`${GET}\r\n`], app: [fwd(GET)], reply: ['HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n' + OK], client: 'HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n' + OK_C },
  {
    name: 'chunked response with trailers passed to an HTTP/1.1 client as it came',
    send: [`${GET}\r\n`, { await: '0\r\nx-sum: 9\r\n\r\n' }, `${GET}\r\n`],
    app: [fwd(GET), fwd(GET)],
    reply: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n2;e=1\r\nab\r\n0\r\nx-sum: 9\r\n\r\n', OK],
    client: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nkeep-alive: timeout=5\r\n\r\n2;e=1\r\nab\r\n0\r\nx-sum: 9\r\n\r\n' + OK_C,
  },
  {
    name: 'chunked response to an HTTP/1.0 client: data only, delimited by close',
    send: ['GET / HTTP/1.0\r\nhost: a\r\n\r\n'],
    app: [fwd('GET / HTTP/1.1\r\nhost: a\r\n')],
    reply: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'],
    client: 'HTTP/1.1 200 OK\r\nx-a: 1\r\nconnection: close\r\n\r\nabcde',
    closes: true,
  },
  { name: 'close-delimited response: relayed, then the client connection closes', send: [`${GET}\r\n`], app: [fwd(GET)], reply: [{ data: 'HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nuntil close', end: true }], client: 'HTTP/1.1 200 OK\r\nx-a: 1\r\nconnection: close\r\n\r\nuntil close', closes: true },
  { name: 'HTTP/1.0 app without keep-alive', send: [`${GET}\r\n`], app: [fwd(GET)], reply: [{ data: 'HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok', end: true }], client: OK_C },
  { name: 'response hop-by-hop fields dropped', send: [`${GET}\r\n`], app: [fwd(GET)], reply: ['HTTP/1.1 200 OK\r\nkeep-alive: timeout=9\r\nconnection: x-secret\r\nx-secret: s\r\nx-pub: p\r\ncontent-length: 2\r\n\r\nok'], client: 'HTTP/1.1 200 OK\r\nx-pub: p\r\ncontent-length: 2\r\nkeep-alive: timeout=5\r\n\r\nok' },
  {
    name: 'upgrade: the 101 relayed, then bytes piped both ways',
    send: ['GET /ws HTTP/1.1\r\nhost: a\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n', { await: 'hello' }, 'ping'],
    app: [fwd('GET /ws HTTP/1.1\r\nhost: a\r\n', `${ADDED}connection: upgrade\r\nupgrade: echo\r\n`), 'ping'],
    reply: ['HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nhello', 'pong'],
    client: 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nhellopong',
  },
  {
    name: 'upgrade refused by the app: relayed, then closed',
    send: ['GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n'],
    app: [fwd('GET /ws HTTP/1.1\r\nhost: a\r\n', `${ADDED}connection: upgrade\r\nupgrade: echo\r\n`)],
    reply: ['HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno'],
    client: 'HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno',
    closes: true,
  },
  { name: 'a 101 to a request that asked no upgrade: 502', send: [`${GET}\r\n`], app: [fwd(GET)], reply: ['HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n'], client: 'HTTP/1.1 502 Bad Gateway\r\n' },
  { name: 'garbage from the app: 502', send: [`${GET}\r\n`], app: [fwd(GET)], reply: ['HTTP/1.1 2OO OK\r\n\r\n'], client: 'HTTP/1.1 502 Bad Gateway\r\n' },
  { name: 'app response with Content-Length and Transfer-Encoding: 502', send: [`${GET}\r\n`], app: [fwd(GET)], reply: ['HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'], client: 'HTTP/1.1 502 Bad Gateway\r\n' },
  { name: 'app response with two Content-Lengths: 502', send: [`${GET}\r\n`], app: [fwd(GET)], reply: ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok'], client: 'HTTP/1.1 502 Bad Gateway\r\n' },
  {
    name: 'keep-alive race: a GET that dies unanswered on a reused connection is sent again on a fresh one',
    send: ['GET /1 HTTP/1.1\r\nhost: a\r\n\r\n', { await: 'ok' }, 'GET /2 HTTP/1.1\r\nhost: a\r\n\r\n'],
    app: [fwd('GET /1 HTTP/1.1\r\nhost: a\r\n'), fwd('GET /2 HTTP/1.1\r\nhost: a\r\n'), fwd('GET /2 HTTP/1.1\r\nhost: a\r\n')],
    reply: [OK, { data: '', destroy: true }, OK],
    client: OK_C + OK_C,
  },
  {
    name: 'keep-alive race: a POST with a body is not sent twice: 502',
    send: ['GET /1 HTTP/1.1\r\nhost: a\r\n\r\n', { await: 'ok' }, 'POST /2 HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\n\r\nx'],
    app: [fwd('GET /1 HTTP/1.1\r\nhost: a\r\n'), fwd('POST /2 HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\n') + 'x'],
    reply: [OK, { data: '', destroy: true }],
    client: OK_C + 'HTTP/1.1 502 Bad Gateway\r\n',
  },
  { name: 'app dies mid-body: the client connection is cut', send: [`${GET}\r\n`], app: [fwd(GET)], reply: [{ data: 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc', destroy: true }], client: 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\nkeep-alive: timeout=5\r\n\r\nabc', closes: true, cut: true },
  { name: 'app sends a bad chunk mid-body: the client connection is cut', send: [`${GET}\r\n`], app: [fwd(GET)], reply: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n'], client: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nkeep-alive: timeout=5\r\n\r\n2\r\nab\r\n', closes: true, cut: true },
];

const HEAD_OF = (fields: string) => `POST / HTTP/1.1\r\nhost: a\r\n${fields}\r\n`;
const refusedCases: Case[] = [
  { name: 'Content-Length with Transfer-Encoding', send: [HEAD_OF('content-length: 5\r\ntransfer-encoding: chunked\r\n') + '0\r\n\r\n'], refused: 400 },
  { name: 'Transfer-Encoding with Content-Length', send: [HEAD_OF('transfer-encoding: chunked\r\ncontent-length: 5\r\n') + '0\r\n\r\n'], refused: 400 },
  { name: 'two equal Content-Lengths', send: [HEAD_OF('content-length: 1\r\ncontent-length: 1\r\n') + 'x'], refused: 400 },
  { name: 'two different Content-Lengths', send: [HEAD_OF('content-length: 1\r\ncontent-length: 2\r\n') + 'xy'], refused: 400 },
  { name: 'Content-Length list', send: [HEAD_OF('content-length: 1, 1\r\n') + 'x'], refused: 400 },
  { name: 'Content-Length with a sign', send: [HEAD_OF('content-length: +1\r\n') + 'x'], refused: 400 },
  { name: 'negative Content-Length', send: [HEAD_OF('content-length: -1\r\n')], refused: 400 },
  { name: 'Content-Length with trailing garbage', send: [HEAD_OF('content-length: 1x\r\n') + 'x'], refused: 400 },
  { name: 'hex Content-Length', send: [HEAD_OF('content-length: 0x1\r\n') + 'x'], refused: 400 },
  { name: 'empty Content-Length', send: [HEAD_OF('content-length: \r\n')], refused: 400 },
  { name: 'Content-Length beyond 2^53', send: [HEAD_OF('content-length: 1234567890123456\r\n')], refused: 400 },
  { name: 'Transfer-Encoding: gzip (final coding not chunked)', send: [HEAD_OF('transfer-encoding: gzip\r\n')], refused: 400 },
  { name: 'Transfer-Encoding: chunked, gzip', send: [HEAD_OF('transfer-encoding: chunked, gzip\r\n')], refused: 400 },
  { name: 'Transfer-Encoding: chunked twice', send: [HEAD_OF('transfer-encoding: chunked, chunked\r\n') + '0\r\n\r\n'], refused: 400 },
  { name: 'Transfer-Encoding split over two fields, gzip last', send: [HEAD_OF('transfer-encoding: chunked\r\ntransfer-encoding: gzip\r\n')], refused: 400 },
  { name: 'Transfer-Encoding: xchunked', send: [HEAD_OF('transfer-encoding: xchunked\r\n')], refused: 400 },
  { name: 'Transfer-Encoding with a bad token', send: [HEAD_OF('transfer-encoding: "chunked"\r\n')], refused: 400 },
  { name: 'Transfer-Encoding in HTTP/1.0', send: ['POST / HTTP/1.0\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'], refused: 400 },
  { name: 'obs-fold', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n  folded\r\n\r\n'], refused: 400 },
  { name: 'obs-fold with a tab', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n\tfolded\r\n\r\n'], refused: 400 },
  { name: 'bare CR in a value', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r2\r\n\r\n'], refused: 400 },
  { name: 'bare LF ending a field line', send: ['GET / HTTP/1.1\r\nhost: a\nx-a: 1\r\n\r\n'], refused: 400 },
  { name: 'bare LF ending the request line', send: ['GET / HTTP/1.1\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'whitespace before the colon', send: ['GET / HTTP/1.1\r\nhost: a\r\ncontent-length : 0\r\n\r\n'], refused: 400 },
  { name: 'tab before the colon', send: ['GET / HTTP/1.1\r\nhost: a\r\ntransfer-encoding\t: chunked\r\n\r\n'], refused: 400 },
  { name: 'space inside a field name', send: ['GET / HTTP/1.1\r\nhost: a\r\nx a: 1\r\n\r\n'], refused: 400 },
  { name: 'non-token byte in a field name', send: ['GET / HTTP/1.1\r\nhost: a\r\nx(a): 1\r\n\r\n'], refused: 400 },
  { name: 'empty field name', send: ['GET / HTTP/1.1\r\nhost: a\r\n: v\r\n\r\n'], refused: 400 },
  { name: 'field line without a colon', send: ['GET / HTTP/1.1\r\nhost: a\r\nnocolon\r\n\r\n'], refused: 400 },
  { name: 'NUL in a value', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\x002\r\n\r\n'], refused: 400 },
  { name: 'control byte in a value', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-a: \x01\r\n\r\n'], refused: 400 },
  { name: 'DEL in a value', send: ['GET / HTTP/1.1\r\nhost: a\r\nx-a: \x7f\r\n\r\n'], refused: 400 },
  { name: 'non-token byte in the method', send: ['G@T / HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: '# in the target', send: ['GET /a#frag HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'space inside the target', send: ['GET /a b HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'two spaces in the request line', send: ['GET  / HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'tab as a request-line separator', send: ['GET\t/ HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'non-ASCII byte in the target', send: ['GET /caf\xe9 HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'target neither origin- nor absolute-form', send: ['GET a/b HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: '* target with GET', send: ['GET * HTTP/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'absolute-form with userinfo', send: ['GET http://u@h/ HTTP/1.1\r\nhost: h\r\n\r\n'], refused: 400 },
  { name: 'absolute-form https', send: ['GET https://h/ HTTP/1.1\r\nhost: h\r\n\r\n'], refused: 400 },
  { name: 'no Host in HTTP/1.1', send: ['GET / HTTP/1.1\r\nx-a: 1\r\n\r\n'], refused: 400 },
  { name: 'two Hosts', send: ['GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n'], refused: 400 },
  { name: 'lower-case version', send: ['GET / http/1.1\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'version with trailing garbage', send: ['GET / HTTP/1.10\r\nhost: a\r\n\r\n'], refused: 400 },
  { name: 'HTTP/1.2', send: ['GET / HTTP/1.2\r\nhost: a\r\n\r\n'], refused: 505 },
  { name: 'HTTP/2.0 in a 1.x request line', send: ['GET / HTTP/2.0\r\nhost: a\r\n\r\n'], refused: 505 },
  { name: 'CONNECT (nothing is tunnelled)', send: ['CONNECT a:443 HTTP/1.1\r\nhost: a:443\r\n\r\n'], refused: 501 },
  { name: 'head over 16 KB', send: [`GET / HTTP/1.1\r\nhost: a\r\nx-big: ${'a'.repeat(17 * 1024)}\r\n\r\n`], refused: 431 },
  { name: 'head over 16 KB that never ends', send: [`GET / HTTP/1.1\r\nhost: a\r\nx-big: ${'a'.repeat(17 * 1024)}`], refused: 431 },
  { name: 'more than 100 fields', send: [`GET / HTTP/1.1\r\nhost: a\r\n${'x-f: 1\r\n'.repeat(101)}\r\n`], refused: 431 },
  { name: 'slowloris: a head that does not finish in time', send: ['GET / HTTP/1.1\r\nhost: a\r\n', 'x-a: 1\r\n'], refused: 408 },
];

const FWD_CHUNKED = fwd('POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n');
/** Invalid chunked framing: the head may be forwarded before the body is seen; the app gets at most the valid prefix and its connection is cut. */
const badChunks: [string, string, string][] = [
  ['chunk size that overflows', 'fffffffffffffffffff\r\n', ''],
  ['chunk size with garbage', '5x\r\nhello\r\n0\r\n\r\n', ''],
  ['chunk size empty', ';e\r\n', ''],
  ['whitespace after a chunk size with no extension', '5 \r\nhello\r\n0\r\n\r\n', ''],
  ['bare LF after a chunk size', '5\nhello\r\n0\r\n\r\n', ''],
  ['bare CR in a chunk extension', '5;a\rb\r\nhello\r\n0\r\n\r\n', ''],
  ['chunk data longer than its size', '2\r\nabc\r\n0\r\n\r\n', '2\r\nab'],
  ['negative chunk size', '-1\r\n', ''],
  ['malformed trailer field', '0\r\nbad trailer\r\n\r\n', '0\r\nbad'],
  ['trailer with obs-fold', '0\r\nx: 1\r\n folded\r\n\r\n', '0\r\nx: 1\r\n'],
];
for (const [name, body, prefix] of badChunks) {
  refusedCases.push({
    name: `${name}: 400, the app's request is cut`,
    send: [HEAD_OF('transfer-encoding: chunked\r\n') + body],
    app: [FWD_CHUNKED + prefix],
    refused: 400,
  });
}

describe('HTTP/1.1 conformance (raw bytes through the sidecar)', () => {
  let app: RawApp;
  let inbound: Inbound;
  let registry: Registry;

  beforeAll(async () => {
    app = await RawApp.start();
    ({ inbound, registry } = await startInbound(app.url, { limits: { headerTimeoutMs: 300, bodyTimeoutMs: 300 } }));
  });
  afterAll(async () => {
    await inbound.close();
    await app.close();
    void registry;
  });
  afterEach(() => app.reset());

  it(`has at least 60 cases (${accepted.length + refusedCases.length})`, () => {
    expect(accepted.length + refusedCases.length).toBeGreaterThanOrEqual(60);
  });

  const run = async (c: Case): Promise<RawClient> => {
    const appSteps = (c.app ?? []).map((s) => s.replace('127.0.0.1:APP', `127.0.0.1:${app.port}`));
    app.script(appSteps, c.reply ?? []);
    const client = await RawClient.connect(inbound.port);
    for (const step of c.send) {
      if (typeof step === 'string') {
        client.write(step);
        // Separate TCP segments for split cases.
        if (c.send.length > 1) await new Promise((r) => setTimeout(r, 1));
      } else await until(() => client.got.includes(step.await), `client to get ${JSON.stringify(step.await)}`);
    }
    return client;
  };

  it.each(accepted.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const client = await run(c);
    const want = c.client as string;
    await until(() => client.got.length >= want.length || client.closed, 'the answer');
    if (c.closes) await until(() => client.closed, 'the connection to close');
    const appSteps = (c.app ?? []).map((s) => s.replace('127.0.0.1:APP', `127.0.0.1:${app.port}`));
    expect(app.received).toBe(appSteps.join(''));
    if (c.cut) expect(want.startsWith(client.got)).toBe(true);
    else if (want.endsWith('Bad Gateway\r\n')) {
      expect(client.got.startsWith(want)).toBe(true);
      expect(client.got).toContain('"reason":"upstream-error"');
    }
    else expect(client.got).toBe(want);
    if (!c.closes && !want.includes(' 502 ')) expect(client.closed).toBe(false);
    client.destroy();
  });

  it.each(refusedCases.map((c) => [c.name, c] as const))('refused: %s', async (_name, c) => {
    const client = await run(c);
    await until(() => client.closed, 'the connection to close');
    expect(client.got.startsWith(`HTTP/1.1 ${c.refused} `)).toBe(true);
    // Exactly one answer, and the connection is not reused.
    expect(client.got.indexOf('HTTP/1.1', 1)).toBe(-1);
    // Mid-body refusals: the app may have got the head and the valid prefix (never more), and that request is cut.
    const allowed = (c.app ?? []).join('');
    expect(allowed.startsWith(app.received)).toBe(true);
    if (app.received !== '') await until(() => app.closedByPeer > 0, 'the app connection to be cut');
    expect(inbound.state().classes.every((x) => x.inflight === 0)).toBe(true);
  });

  it('a client that leaves mid-body: the app connection is cut and the slot freed', async () => {
    const c: Case = { name: 'leave', send: [HEAD_OF('content-length: 10\r\n') + 'abc'], app: [fwd('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n') + 'abc'] };
    const client = await run(c);
    await until(() => app.received.length === c.app![0].length, 'the app to get the partial body');
    client.destroy();
    await until(() => app.closedByPeer > 0, 'the app connection to be cut');
    await until(() => inbound.state().classes.every((x) => x.inflight === 0), 'the slot back');
    expect(app.received).toBe(c.app![0]);
  });

  it('a body that does not arrive within the body timeout: the connection is cut, the app request too, the slot freed', async () => {
    const c: Case = { name: 'trickle', send: [HEAD_OF('content-length: 10\r\n') + 'ab'], app: [fwd('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n') + 'ab'] };
    const client = await run(c);
    await until(() => client.closed, 'the connection to be cut');
    await until(() => app.closedByPeer > 0, 'the app connection to be cut');
    await until(() => inbound.state().classes.every((x) => x.inflight === 0), 'the slot back');
    expect(app.received).toBe(c.app![0]);
    expect(client.got).toBe('');
  });

  it('a refusal keeps the connection when the body is small, and drains it', async () => {
    inbound.apply(compiled({ defaultClass: { concurrency: { limit: 1 } } }));
    const holder = await RawClient.connect(inbound.port);
    try {
      // The one slot is held by a request the app never answers.
      app.script([fwd(GET)], []);
      holder.write(`${GET}\r\n`);
      await until(() => app.received.length > 0, 'the held request');
      const client = await RawClient.connect(inbound.port);
      client.write(HEAD_OF('content-length: 3\r\n') + 'abc' + HEAD_OF('content-length: 0\r\n'));
      await until(() => client.got.split('HTTP/1.1 503').length === 3, 'two refusals');
      expect(client.closed).toBe(false);
      expect(client.got).not.toContain('connection: close');
      expect(app.received).toBe(fwd(GET).replace('unconfigured', 'default'));
      client.destroy();
    } finally {
      holder.destroy();
      await until(() => inbound.state().classes.every((x) => x.inflight === 0), 'the slot back');
      inbound.clear();
    }
  });
});
