import { compile } from '../../api/compile.js';
import { parsePolicy } from '../../api/validate.js';
import { Classifier, parseQuery } from '../../sidecar/classifier.js';

function classesOf(classes: unknown[]) {
  const r = parsePolicy({
    apiVersion: 'spillway.io/v1alpha1',
    kind: 'TrafficPolicy',
    metadata: { name: 'p', namespace: 'n' },
    spec: { targetRef: { name: 'app' }, classes },
  });
  if (!r.ok) throw new Error(r.error);
  return compile(r.value, 1).classes;
}

const c = (name: string, match: unknown[]) => ({ name, match, concurrency: { limit: 1 } });

describe('Classifier', () => {
  const classes = classesOf([
    c('background-login', [{ method: 'POST', path: '/login', headers: { 'X-Login-Kind': 'background' } }]),
    c('login', [{ method: 'POST', path: '/login' }]),
    c('messages', [{ method: 'POST', pathPrefix: '/messages' }]),
    c('long-poll', [{ method: 'GET', pathPrefix: '/socket.io/', query: { transport: 'polling' } }]),
    c('ws', [{ websocket: true }]),
    c('traced', [{ headersPresent: ['X-Trace'] }, { method: 'DELETE' }]),
  ]);
  const names = classes.map((x) => x.name);
  const classifier = new Classifier(classes);
  const of = (method: string, url: string, headers: Record<string, string | string[]> = {}, ws = false) =>
    names[classifier.classify(method, url, headers, ws)];

  it('first match wins, default last', () => {
    expect(of('POST', '/login', { 'x-login-kind': 'background' })).toBe('background-login');
    expect(of('POST', '/login', { 'x-login-kind': 'foreground' })).toBe('login');
    expect(of('POST', '/login')).toBe('login');
    expect(of('GET', '/login')).toBe('default');
    expect(names[names.length - 1]).toBe('default');
  });

  it('matches exact path without the query string, and prefixes', () => {
    expect(of('POST', '/login?x=1')).toBe('login');
    expect(of('POST', '/login/other')).toBe('default');
    expect(of('POST', '/messages/42?draft=1')).toBe('messages');
    expect(of('POST', '/message')).toBe('default');
  });

  it('matches query parameters, decoded, first value wins', () => {
    expect(of('GET', '/socket.io/?EIO=4&transport=polling&t=abc')).toBe('long-poll');
    expect(of('GET', '/socket.io/?transport=websocket')).toBe('default');
    expect(of('GET', '/socket.io/?transport=poll%69ng')).toBe('long-poll');
    expect(of('GET', '/socket.io/')).toBe('default');
    expect(of('GET', '/socket.io/?transport=websocket&transport=polling')).toBe('default');
  });

  it('matches websocket upgrades and header presence; any matcher of a class', () => {
    expect(of('GET', '/socket.io/?transport=websocket', {}, true)).toBe('ws');
    expect(of('GET', '/anything', { 'x-trace': '' })).toBe('traced');
    expect(of('DELETE', '/anything')).toBe('traced');
    expect(of('PUT', '/anything')).toBe('default');
  });

  it('compares repeated header values', () => {
    expect(of('POST', '/login', { 'x-login-kind': ['foreground', 'background'] })).toBe('background-login');
  });

  it('a config without classes sends everything to default', () => {
    const only = classesOf([]);
    expect(new Classifier(only).classify('GET', '/x', {}, false)).toBe(0);
  });
});

describe('Classifier pathMatching', () => {
  const classes = classesOf([
    c('login', [{ method: 'POST', path: '/Login/' }]),
    c('messages', [{ pathPrefix: '/Messages/' }]),
    c('api', [{ pathPrefix: '/api' }]),
    c('root', [{ path: '/' }]),
  ]);
  const names = classes.map((x) => x.name);
  const classify = (k: Classifier, method: string, url: string) => names[k.classify(method, url, {}, false)];

  it('defaults (caseSensitive false, trailingSlash Ignore): any case, with or without the trailing slash', () => {
    const k = new Classifier(classes);
    for (const url of ['/login', '/LOGIN', '/Login/', '/login/?x=1']) expect(classify(k, 'POST', url)).toBe('login');
    for (const url of ['/messages/1', '/MESSAGES/1/', '/messages', '/Messages/', '/messages?x']) expect(classify(k, 'GET', url)).toBe('messages');
    for (const url of ['/messagesx', '/login/x']) expect(classify(k, 'GET', url)).toBe('default');
    for (const url of ['/API', '/apix', '/api/']) expect(classify(k, 'GET', url)).toBe('api');
    expect(classify(k, 'GET', '/')).toBe('root');
    // The same as the explicit defaults.
    expect(new Classifier(classes, { caseSensitive: false, trailingSlash: 'Ignore' }).classify('POST', '/LOGIN/', {}, false)).toBe(0);
  });

  it('caseSensitive true and trailingSlash Strict compare as the app declares', () => {
    const k = new Classifier(classes, { caseSensitive: true, trailingSlash: 'Strict' });
    expect(classify(k, 'POST', '/Login/')).toBe('login');
    for (const url of ['/Login', '/login/', '/LOGIN/']) expect(classify(k, 'POST', url)).toBe('default');
    expect(classify(k, 'GET', '/Messages/1')).toBe('messages');
    for (const url of ['/messages/1', '/Messages']) expect(classify(k, 'GET', url)).toBe('default');
    const slashOnly = new Classifier(classes, { caseSensitive: true, trailingSlash: 'Ignore' });
    expect([classify(slashOnly, 'POST', '/Login'), classify(slashOnly, 'POST', '/login/'), classify(slashOnly, 'GET', '/Messages')]).toEqual(['login', 'default', 'messages']);
  });

  it('explain() compares the same folded path', () => {
    const e = new Classifier(classes).explain('GET', '/LOGIN/', {}, false);
    expect(e.misses[0]).toMatchObject({ field: 'method', want: 'POST' });
    expect(e.misses[1]).toMatchObject({ field: 'pathPrefix', want: '/messages/', got: '/login' });
  });
});

describe('parseQuery', () => {
  it('parses, decodes and keeps malformed escapes', () => {
    expect({ ...parseQuery('/p?a=1&b=x+y&c&&d=%E2%82%AC&e=%zz&a=2') }).toEqual({ a: '1', b: 'x y', c: '', d: '€', e: '%zz' });
    expect({ ...parseQuery('/p') }).toEqual({});
    expect({ ...parseQuery('/p?') }).toEqual({});
  });
});
