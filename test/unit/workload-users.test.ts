import { KubeError, type SecretApi, type SecretRecord } from '../../operator/kube-api.js';
import { WorkloadUsers, type AclStore } from '../../operator/workload-users.js';

class FakeSecrets implements SecretApi {
  readonly store = new Map<string, SecretRecord>();
  readonly calls: string[] = [];
  private rv = 0;
  async getSecret(ns: string, name: string): Promise<SecretRecord | null> {
    return this.store.get(`${ns}/${name}`) ?? null;
  }
  async createSecret(ns: string, name: string, data: Record<string, string>): Promise<SecretRecord> {
    this.calls.push(`create ${ns}/${name}`);
    if (this.store.has(`${ns}/${name}`)) throw new KubeError(409, 'exists');
    const s = { data, resourceVersion: String(++this.rv) };
    this.store.set(`${ns}/${name}`, s);
    return s;
  }
  async replaceSecret(ns: string, name: string, secret: SecretRecord): Promise<SecretRecord> {
    this.calls.push(`replace ${ns}/${name}`);
    if (this.store.get(`${ns}/${name}`)?.resourceVersion !== secret.resourceVersion) throw new KubeError(409, 'conflict');
    const s = { data: secret.data, resourceVersion: String(++this.rv) };
    this.store.set(`${ns}/${name}`, s);
    return s;
  }
  async deleteSecret(ns: string, name: string): Promise<boolean> {
    this.calls.push(`delete ${ns}/${name}`);
    return this.store.delete(`${ns}/${name}`);
  }
}

class FakeAcl implements AclStore {
  readonly cluster = false;
  readonly users = new Map<string, readonly string[]>();
  constructor(private readonly calls: string[]) {}
  async setAclUser(user: string, rules: readonly string[]): Promise<void> {
    this.calls.push(`setuser ${user}`);
    this.users.set(user, rules);
  }
  async deleteAclUser(user: string): Promise<void> {
    this.calls.push(`deluser ${user}`);
    this.users.delete(user);
  }
}

describe('WorkloadUsers', () => {
  let kube: FakeSecrets;
  let acl: FakeAcl;
  let users: WorkloadUsers;
  beforeEach(() => {
    kube = new FakeSecrets();
    acl = new FakeAcl(kube.calls);
    users = new WorkloadUsers(kube, acl, 'rediss://redis.spillway.svc:6379');
  });
  const secret = () => kube.store.get('talk/spillway-redis-chat') as SecretRecord;

  it('the first reconcile: the ACL user first, then the Secret with a random password and the URL', async () => {
    await users.ensure('talk/chat');
    expect(kube.calls).toEqual(['setuser spillway.talk.chat', 'create talk/spillway-redis-chat']);
    const { password, username, url } = secret().data;
    expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(username).toBe('spillway.talk.chat');
    expect(url).toBe(`rediss://spillway.talk.chat:${password}@redis.spillway.svc:6379`);
    expect(acl.users.get('spillway.talk.chat')?.slice(0, 3)).toEqual(['reset', 'on', `>${password}`]);
  });

  it('later reconciles keep the password and set the user again (a Redis that lost it gets it back)', async () => {
    await users.ensure('talk/chat');
    const first = secret().data.password;
    acl.users.clear();
    await users.ensure('talk/chat');
    expect(secret().data.password).toBe(first);
    expect(acl.users.get('spillway.talk.chat')).toContain(`>${first}`);
    expect(kube.calls.filter((c) => c.startsWith('replace'))).toEqual([]);
  });

  it('a Secret edited by hand (a password that is not ours, a different URL) is rewritten', async () => {
    await users.ensure('talk/chat');
    const s = secret();
    kube.store.set('talk/spillway-redis-chat', { ...s, data: { ...s.data, password: 'hunter2' } });
    await users.ensure('talk/chat');
    expect(secret().data.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(secret().data.password).not.toBe('hunter2');
    const kept = secret().data.password;
    kube.store.set('talk/spillway-redis-chat', { ...secret(), data: { ...secret().data, url: 'redis://elsewhere:6379' } });
    await users.ensure('talk/chat');
    expect(secret().data).toEqual(expect.objectContaining({ password: kept, url: expect.stringContaining('@redis.spillway.svc:6379') }));
  });

  it('two workloads get different users, passwords and Secrets', async () => {
    await users.ensure('talk/chat');
    await users.ensure('talk/relay');
    expect(kube.store.get('talk/spillway-redis-relay')?.data.password).not.toBe(secret().data.password);
    expect([...acl.users.keys()].sort()).toEqual(['spillway.talk.chat', 'spillway.talk.relay']);
  });

  it('remove deletes the user, then the Secret; a Secret already gone is fine', async () => {
    await users.ensure('talk/chat');
    await users.remove('talk/chat');
    expect(acl.users.size).toBe(0);
    expect(kube.store.size).toBe(0);
    await expect(users.remove('talk/chat')).resolves.toBeUndefined();
  });

  it('refuses a base URL with no Redis scheme', () => {
    expect(() => new WorkloadUsers(kube, acl, 'http://redis:6379')).toThrow();
  });
});
