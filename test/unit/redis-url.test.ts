import fc from 'fast-check';
import { configKey, hashTag } from '../../api/config.js';
import { VERSION_KEY_PREFIX } from '../../operator/publisher.js';
import { connectSpec, MAX_NODES, MAX_URL_LENGTH, parseRedisUrl, redactRedisUrl, RedisUrlError } from '../../lib/redis-url.js';

describe('parseRedisUrl', () => {
  it('reads one node, with default port, database and TLS', () => {
    expect(parseRedisUrl('redis://r')).toEqual({ mode: 'standalone', tls: false, nodes: [{ host: 'r', port: 6379 }] });
    expect(parseRedisUrl('rediss://Redis.Example.com:6380/3')).toEqual({
      mode: 'standalone',
      tls: true,
      nodes: [{ host: 'redis.example.com', port: 6380 }],
      db: 3,
    });
    expect(parseRedisUrl('redis://10.0.0.1:7000/').nodes).toEqual([{ host: '10.0.0.1', port: 7000 }]);
    expect(parseRedisUrl('redis://[::1]:7000').nodes).toEqual([{ host: '::1', port: 7000 }]);
  });

  it('reads Sentinels and the master name', () => {
    expect(parseRedisUrl('redis+sentinel://u%40x:p%3Aw%2F@s1:26379,s2,[fd00::2]:26380/mymaster')).toEqual({
      mode: 'sentinel',
      tls: false,
      nodes: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: 'fd00::2', port: 26380 },
      ],
      masterName: 'mymaster',
      username: 'u@x',
      password: 'p:w/',
    });
    expect(parseRedisUrl('rediss+sentinel://:secret@s1/m-1/2')).toMatchObject({ tls: true, password: 'secret', masterName: 'm-1', db: 2 });
  });

  it('reads Cluster seed nodes', () => {
    expect(parseRedisUrl('redis+cluster://a:7000,b:7001')).toEqual({
      mode: 'cluster',
      tls: false,
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
    });
    expect(parseRedisUrl('REDISS+CLUSTER://default:pw@a/')).toMatchObject({ mode: 'cluster', tls: true, username: 'default', password: 'pw' });
  });

  it.each([
    ['localhost:6379', /is not a redis:\/\//],
    ['http://r', /is not a redis:\/\//],
    ['redis+sentinal://s/m', /is not a redis:\/\//],
    ['redis://', /a host is missing/],
    ['redis://a,b', /one host only/],
    ['redis://r/x', /database "x"/],
    ['redis://r/99999999', /database/],
    ['redis://r:0', /port "0"/],
    ['redis://r:65536', /port/],
    ['redis://r:-1', /port/],
    ['redis://r:1e3', /port/],
    ['redis://r?db=1', /query strings/],
    ['redis://r#x', /fragments/],
    ['redis://r ', /whitespace/],
    ['redis://r\n:6379', /control characters/],
    ['redis://ex ample', /whitespace/],
    ['redis://under_score', /not a host name/],
    ['redis://-lead', /not a host name/],
    ['redis://a..b', /not a host name/],
    ['redis://%61', /not a host name/],
    ['redis://[::1', /bracketed IPv6/],
    ['redis://[zz]:1', /bracketed IPv6/],
    ['redis://[::1]x', /bracketed IPv6/],
    ['redis://@r', /neither a user name nor a password/],
    ['redis://:%zz@r', /password is not validly percent-encoded/],
    ['redis://:a%00b@r', /password contains control characters/],
    ['redis+sentinel://s1,s2', /name the master/],
    ['redis+sentinel://s1/', /name the master/],
    ['redis+sentinel://s1/bad name', /whitespace/],
    ['redis+sentinel://s1/bad$name', /master name/],
    ['redis+sentinel://s1/m/0/x', /the path is/],
    ['redis+cluster://a:1,,b:2', /a host is missing/],
    ['redis+cluster://a:1,a:1', /listed twice/],
    ['redis+cluster://a:1/0', /has no path/],
  ])('refuses %j', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(RedisUrlError);
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('bounds length, node count and credential sizes', () => {
    expect(() => parseRedisUrl(`redis://${'a'.repeat(MAX_URL_LENGTH)}`)).toThrow(/longer than/);
    const many = Array.from({ length: MAX_NODES + 1 }, (_, i) => `n${i}:7000`).join(',');
    expect(() => parseRedisUrl(`redis+cluster://${many}`)).toThrow(/more than 32 hosts/);
    expect(() => parseRedisUrl(`redis://${'u'.repeat(257)}:p@r`)).toThrow(/user name is longer/);
    expect(() => parseRedisUrl(`redis://:${'p'.repeat(1025)}@r`)).toThrow(/password is longer/);
    expect(() => parseRedisUrl(`redis://${'a'.repeat(64)}.b`)).toThrow(/not a host name/);
  });

  it('never repeats the password in an error', () => {
    for (const url of ['redis://u:hunter2@r/x', 'redis+sentinel://u:hunter2@s1', 'redis+cluster://:hunter2@a/1', 'redis://:hunter2@bad_host', 'redis://:hun/ter2@r', 'redis://u:hunter2#x@r', 'redis://u:hunter2?x@r']) {
      expect(() => parseRedisUrl(url)).toThrow(/\*\*\*/);
      try {
        parseRedisUrl(url);
      } catch (err) {
        expect((err as Error).message).not.toContain('hunter2');
      }
    }
  });

  it('either parses or throws RedisUrlError on arbitrary input, and never leaks the password', () => {
    fc.assert(
      fc.property(fc.constantFrom('redis://', 'rediss+sentinel://', 'redis+cluster://', ''), fc.string({ maxLength: 200 }), (scheme, rest) => {
        const url = `${scheme}:s3cr3tpw@${rest}`;
        try {
          const t = parseRedisUrl(url);
          expect(t.nodes.length).toBeGreaterThan(0);
          for (const n of t.nodes) expect(n.port).toBeGreaterThanOrEqual(1);
        } catch (err) {
          expect(err).toBeInstanceOf(RedisUrlError);
          expect((err as Error).message).not.toContain('s3cr3tpw');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('redactRedisUrl', () => {
  it('hides the password only', () => {
    expect(redactRedisUrl('redis://u:p@r:1/0')).toBe('redis://u:***@r:1/0');
    expect(redactRedisUrl('redis+sentinel://:p@a,b/m')).toBe('redis+sentinel://:***@a,b/m');
    expect(redactRedisUrl('redis://u@r')).toBe('redis://u@r');
    expect(redactRedisUrl('redis://r')).toBe('redis://r');
    expect(redactRedisUrl('redis://u:p@ss@r')).toBe('redis://u:***@r');
    expect(redactRedisUrl('redis://u:a/b#c@r/0')).toBe('redis://u:***@r/0');
  });
});

describe('connectSpec', () => {
  it('maps one node', () => {
    expect(connectSpec(parseRedisUrl('rediss://u:p@r:1/2'))).toEqual({
      kind: 'single',
      options: { host: 'r', port: 1, username: 'u', password: 'p', db: 2, tls: {} },
    });
  });

  it('maps Sentinel, with the credentials for the master and the Sentinels', () => {
    expect(connectSpec(parseRedisUrl('rediss+sentinel://:p@s1,s2:2/m'))).toEqual({
      kind: 'single',
      options: {
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 2 },
        ],
        name: 'm',
        password: 'p',
        sentinelPassword: 'p',
        tls: {},
        sentinelTLS: {},
        enableTLSForSentinelMode: true,
      },
    });
  });

  it('maps Cluster', () => {
    expect(connectSpec(parseRedisUrl('redis+cluster://u:p@a:1,b:2'))).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
      ],
      redisOptions: { username: 'u', password: 'p' },
    });
  });
});

describe('key names per mode', () => {
  it('Cluster mode puts the target in a hash tag, so the config key and its version counter share a slot', () => {
    expect(configKey('talk/chat')).toBe('spillway:config:talk/chat');
    expect(configKey('talk/chat', true)).toBe('spillway:config:{talk/chat}');
    expect(VERSION_KEY_PREFIX + hashTag('talk/chat', true)).toBe('spillway:config-version:{talk/chat}');
    expect(VERSION_KEY_PREFIX + hashTag('talk/chat', false)).toBe('spillway:config-version:talk/chat');
  });
});
