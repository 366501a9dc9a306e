import { aclUserName, dedupPrefix, workloadAclRules, workloadSecretName } from '../../api/redis-acl.js';
import { parseRedisUrl, RedisUrlError, withCredentials } from '../../lib/redis-url.js';

describe('per-workload ACL names', () => {
  it('user names are collision-free where a dash would not be', () => {
    // With "-" as the separator these two would both be spillway-a-b-c.
    expect(aclUserName('a-b/c')).not.toBe(aclUserName('a/b-c'));
    expect(aclUserName('talk/chat')).toBe('spillway.talk.chat');
    expect(aclUserName('talk/chat.v2')).toBe('spillway.talk.chat.v2');
  });

  it('long names are hashed to a bounded length, still distinct', () => {
    const long = `ns/${'a'.repeat(200)}`;
    const other = `ns/${'a'.repeat(199)}b`;
    expect(aclUserName(long)).toMatch(/^spillway\.[0-9a-f]{64}$/);
    expect(aclUserName(long)).not.toBe(aclUserName(other));
    expect(workloadSecretName('a'.repeat(253)).length).toBeLessThanOrEqual(253);
    expect(workloadSecretName('chat')).toBe('spillway-redis-chat');
  });

  it('refuses names that would be glob patterns or split wrongly', () => {
    for (const w of ['talk/*', 'talk/ch?t', 'talk/[a]', 'talk', 'Talk/chat', 'talk/chat/x', 'a.b/chat', '/chat', 'talk/']) {
      expect(() => workloadAclRules(w, 'pw', false)).toThrow(/not <namespace>\/<target>/);
    }
  });

  it('rules: reset first; own config read-only, own dedup keys, own vendor health write-only, the config channel', () => {
    const rules = workloadAclRules('talk/chat', 'pw', false);
    expect(rules.slice(0, 3)).toEqual(['reset', 'on', '>pw']);
    expect(rules).toEqual(
      expect.arrayContaining(['&spillway:config', '%R~spillway:config:talk/chat', `~${dedupPrefix('talk/chat')}*`, '%W~spillway:vendor-health:talk/chat:*']),
    );
    expect(workloadAclRules('talk/chat', 'pw', true)).toContain('%R~spillway:config:{talk/chat}');
    expect(rules.filter((r) => r.startsWith('+@') || r === 'allkeys' || r === 'allchannels' || r === 'allcommands')).toEqual([]);
  });
});

describe('withCredentials', () => {
  it("replaces any credentials and keeps scheme, hosts and path; the result parses back", () => {
    const u = withCredentials('rediss://old:pw@redis.spillway.svc:6380/2', 'spillway.talk.chat', 'p/w:@x');
    expect(u).toBe('rediss://spillway.talk.chat:p%2Fw%3A%40x@redis.spillway.svc:6380/2');
    expect(parseRedisUrl(u)).toEqual(expect.objectContaining({ username: 'spillway.talk.chat', password: 'p/w:@x', db: 2, tls: true }));
    expect(withCredentials('redis+cluster://a:1,b:2', 'u', 'p')).toBe('redis+cluster://u:p@a:1,b:2');
  });

  it('refuses a base that is not a Redis URL', () => {
    expect(() => withCredentials('http://x', 'u', 'p')).toThrow(RedisUrlError);
  });
});
