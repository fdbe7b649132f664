import 'fake-indexeddb/auto';
import Dexie from 'dexie';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  FieldQDB,
  clearSession,
  clientIdFor,
  db,
  getLocale,
  loadSession,
  newUuid,
  renewClientId,
  saveSession,
  setLocale,
  updateSession,
  type Session,
} from './db';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const session = (n = 1): Session => ({
  user: {
    id: '7d1e5d0c-8f7a-4b53-9a49-0d6a3f1f0c11',
    username: 'tech1',
    display_name: '张伟',
    role: 'technician',
    team_id: null,
    locale: 'zh-CN',
    must_change_password: false,
  },
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n}`,
  accessExpiresAt: 1_800_000_000_000,
  savedAt: 1_700_000_000_000,
});

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
});

describe('schema', () => {
  it('declares the tables later issues rely on', () => {
    expect(db.tables.map((t) => t.name).sort()).toEqual(['blobs', 'clients', 'meta', 'originals', 'outbox', 'prefs', 'records', 'session']);
    expect(db.verno).toBe(3);
    expect(db.originals.schema.primKey.name).toBe('sha256');
    expect(db.outbox.schema.primKey.auto).toBe(true);
    expect(db.outbox.schema.indexes.map((i) => i.name).sort()).toEqual(['[clientId+id]', 'clientId', 'id', 'jobId', 'state']);
    expect(db.records.schema.primKey.name).toBe('[entity+id]');
    expect(db.records.schema.indexes.map((i) => i.name).sort()).toEqual(['[entity+jobId]', 'entity', 'pinned']);
    expect(db.blobs.schema.primKey.name).toBe('sha256');
    expect(db.blobs.schema.indexes.map((i) => i.name).sort()).toEqual(['clientId', 'jobId', 'state']);
  });

  it('upgrades a v1 database to the current version without losing its outbox, client ids or prefs', async () => {
    const name = 'fieldq-upgrade-test';
    await Dexie.delete(name);
    // The database as the shell (v1) left it on a phone.
    const v1 = new Dexie(name);
    v1.version(1).stores({ session: 'id', clients: 'username', prefs: 'key', outbox: '++seq, id', meta: 'key' });
    const row = {
      id: 1,
      clientId: '0b6c2a8e-1111-4c1a-9d7e-000000000001',
      name: 'job.transition',
      args: { job_id: '5e0f0d4e-7a1b-4c2d-8e3f-00000000000a', to: 'accepted' },
      client_time: '2026-11-24T08:00:00Z',
      state: 'queued' as const,
      refs: ['5e0f0d4e-7a1b-4c2d-8e3f-00000000000a'],
      blobs: [] as string[],
      createdAt: 1,
      attempts: 0,
    };
    const seq = await v1.table('outbox').add({ ...row });
    await v1.table('clients').put({ username: 'tech1', clientId: row.clientId, createdAt: 1 });
    await v1.table('prefs').put({ key: 'locale', value: 'zh-CN' });
    v1.close();

    const upgraded = new FieldQDB(name);
    try {
      await upgraded.open();
      expect(upgraded.verno).toBe(3);
      expect(await upgraded.outbox.get(seq as number)).toEqual({ ...row, seq });
      // The new indexes cover the old row.
      expect(await upgraded.outbox.where('[clientId+id]').equals([row.clientId, 1]).count()).toBe(1);
      expect(await upgraded.outbox.where('state').equals('queued').count()).toBe(1);
      expect(await upgraded.outbox.where('jobId').equals('5e0f0d4e-7a1b-4c2d-8e3f-00000000000a').count()).toBe(0); // v1 rows had no jobId
      expect((await upgraded.clients.get('tech1'))?.clientId).toBe(row.clientId);
      expect((await upgraded.prefs.get('locale'))?.value).toBe('zh-CN');
      expect(await upgraded.records.count()).toBe(0);
      expect(await upgraded.blobs.count()).toBe(0);
      // The next entry gets a fresh seq after the old one.
      const next = await upgraded.outbox.add({ ...row, id: 2 });
      expect(next).toBeGreaterThan(seq as number);
    } finally {
      upgraded.close();
      await Dexie.delete(name);
    }
  });

  it('moves v2 originals out of the blob rows (v3), keeping every photo and its thumbnail', async () => {
    const name = 'fieldq-upgrade-v2';
    await Dexie.delete(name);
    const v2 = new Dexie(name);
    v2.version(1).stores({ session: 'id', clients: 'username', prefs: 'key', outbox: '++seq, id', meta: 'key' });
    v2.version(2).stores({
      outbox: '++seq, id, [clientId+id], clientId, jobId, state',
      records: '[entity+id], entity, [entity+jobId], pinned',
      blobs: 'sha256, state, clientId, jobId',
    });
    const photo = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 9, 9]).buffer;
    const base = { clientId: 'c', type: 'image/jpeg', size: 6, createdAt: 1, sent: 0, thumb: new Uint8Array([1]).buffer };
    await v2.table('blobs').put({ ...base, sha256: 'a'.repeat(64), bytes: photo, state: 'pending' });
    await v2.table('blobs').put({ ...base, sha256: 'b'.repeat(64), bytes: new ArrayBuffer(0), state: 'uploaded' });
    v2.close();

    const upgraded = new FieldQDB(name);
    try {
      await upgraded.open();
      const pending = (await upgraded.blobs.get('a'.repeat(64)))! as unknown as Record<string, unknown>;
      expect(pending.kept).toBe(true);
      expect('bytes' in pending).toBe(false);
      expect(new Uint8Array((await upgraded.originals.get('a'.repeat(64)))!.bytes)).toEqual(new Uint8Array(photo));
      const freed = (await upgraded.blobs.get('b'.repeat(64)))!;
      expect(freed.kept).toBe(false);
      expect(freed.thumb!.byteLength).toBe(1);
      expect(await upgraded.originals.get('b'.repeat(64))).toBeUndefined();
    } finally {
      upgraded.close();
      await Dexie.delete(name);
    }
  });
});

describe('session', () => {
  it('is saved, loaded and cleared', async () => {
    expect(await loadSession()).toBeNull();
    await saveSession(session(1));
    expect(await loadSession()).toEqual(session(1));
    await saveSession(session(2));
    expect(await loadSession()).toEqual(session(2)); // one current login, replaced
    expect(await db.session.count()).toBe(1);
    await clearSession();
    expect(await loadSession()).toBeNull();
  });

  it('is updated only while it is still the same login', async () => {
    await saveSession(session(1));
    expect(await updateSession('refresh-1', { teamName: 'North' })).toBe(true);
    expect((await loadSession())?.teamName).toBe('North');
    expect(await updateSession('refresh-old', { teamName: 'South' })).toBe(false);
    expect((await loadSession())?.teamName).toBe('North');
    await clearSession();
    expect(await updateSession('refresh-1', { accessToken: 'x' })).toBe(false);
    expect(await loadSession()).toBeNull(); // a logged-out session is not resurrected
  });

  it('leaves client ids and prefs alone when cleared', async () => {
    const id = await clientIdFor('tech1');
    await setLocale('en');
    await saveSession(session());
    await clearSession();
    expect(await clientIdFor('tech1')).toBe(id);
    expect(await getLocale()).toBe('en');
  });
});

describe('client ids', () => {
  it('are made once per user and kept', async () => {
    const first = await clientIdFor('tech1');
    expect(first).toMatch(UUID);
    expect(await clientIdFor('tech1')).toBe(first);
    expect(await clientIdFor('  TECH1 ')).toBe(first); // the server normalises usernames the same way
  });

  it('differ between users of one installation', async () => {
    const a = await clientIdFor('tech1');
    const b = await clientIdFor('tech2');
    expect(a).not.toBe(b);
    expect(await clientIdFor('tech1')).toBe(a);
  });

  it('are not duplicated by concurrent first calls', async () => {
    const ids = await Promise.all([clientIdFor('tech3'), clientIdFor('tech3'), clientIdFor('tech3')]);
    expect(new Set(ids).size).toBe(1);
  });

  it('can be renewed', async () => {
    const old = await clientIdFor('tech1');
    const renewed = await renewClientId('tech1');
    expect(renewed).not.toBe(old);
    expect(await clientIdFor('tech1')).toBe(renewed);
  });

  it('are v4 UUIDs even without crypto.randomUUID', () => {
    const original = crypto.randomUUID;
    try {
      Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true });
      const ids = new Set(Array.from({ length: 50 }, newUuid));
      expect(ids.size).toBe(50);
      for (const id of ids) expect(id).toMatch(UUID);
    } finally {
      Object.defineProperty(crypto, 'randomUUID', { value: original, configurable: true });
    }
  });
});

describe('locale pref', () => {
  it('is absent until chosen, then remembered', async () => {
    expect(await getLocale()).toBeNull();
    await setLocale('zh-CN');
    expect(await getLocale()).toBe('zh-CN');
    await setLocale('en');
    expect(await getLocale()).toBe('en');
  });

  it('ignores a value that is not a supported locale', async () => {
    await db.prefs.put({ key: 'locale', value: 'fr' });
    expect(await getLocale()).toBeNull();
  });
});
