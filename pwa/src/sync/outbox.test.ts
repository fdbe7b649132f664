import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { db, FieldQDB, type MutationResult, type OutboxEntry } from '../db';
import { ensureUploaded, type BlobTransport } from './blobs';
import {
  blobsOf,
  dropSettled,
  effectiveStatus,
  enqueue,
  entriesOf,
  isFinal,
  markSeen,
  MAX_BATCH,
  MAX_BATCH_BYTES,
  moveToNewClient,
  needsAttention,
  nextBatch,
  onEnqueue,
  OutboxGapError,
  overlays,
  pendingEntries,
  push,
  refsOf,
  type PushBody,
  type PushDeps,
  type PushResponse,
} from './outbox';

const CLIENT = '0b6c2a8e-1111-4c1a-9d7e-000000000001';
const OTHER = '0b6c2a8e-2222-4c1a-9d7e-000000000002';
const JOB = '5e0f0d4e-7a1b-4c2d-8e3f-00000000000a';
const JOB2 = '5e0f0d4e-7a1b-4c2d-8e3f-00000000000b';
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

let uuidN = 0;
const uuid = () => `00000000-0000-4000-8000-${String(++uuidN).padStart(12, '0')}`;

type Decide = (mutation: PushBody['mutations'][number]) => Omit<MutationResult, 'id'>;

/**
 * A server that answers like backend/sync/push.py: per-mutation results in order, `duplicate` with the
 * stored result for ids it has processed, a gap stops processing, a missing blob stops it with
 * `blocked`. Each processed mutation advances the change feed (write_checkpoint).
 */
class FakeServer {
  last = 0;
  feed = 0;
  stored = new Map<number, MutationResult>();
  blobs = new Set<string>();
  bodies: PushBody[] = [];
  decide: Decide = () => ({ status: 'applied' });
  /** Throw before processing (request never arrived) on the next `n` posts. */
  failBefore = 0;
  /** Process, commit, then lose the response on the next `n` posts. */
  loseAfter = 0;

  post = vi.fn((body: PushBody) => this.handle(body));

  async handle(body: PushBody): Promise<PushResponse> {
    this.bodies.push(structuredClone(body));
    if (this.failBefore > 0) {
      this.failBefore -= 1;
      throw new TypeError('Failed to fetch');
    }
    const results: MutationResult[] = [];
    for (const mutation of body.mutations) {
      if (mutation.id <= this.last) {
        results.push({ id: mutation.id, status: 'duplicate', result: this.stored.get(mutation.id) });
        continue;
      }
      if (mutation.id > this.last + 1) break;
      const missing = blobsOf(mutation.args).find((sha) => !this.blobs.has(sha));
      if (missing) {
        results.push({ id: mutation.id, status: 'blocked', code: 'BLOB_MISSING', blob: missing });
        break;
      }
      const result: MutationResult = { id: mutation.id, ...this.decide(mutation) };
      this.stored.set(mutation.id, result);
      this.last = mutation.id;
      this.feed += 1;
      results.push(result);
    }
    if (this.loseAfter > 0) {
      this.loseAfter -= 1;
      throw new TypeError('network connection lost');
    }
    return { last_mutation_id: this.last, write_checkpoint: String(this.feed), results };
  }

  /** The deps `push` takes; `ensureUploaded` puts blobs on this server. */
  deps(extra: Partial<PushDeps> = {}): PushDeps {
    return {
      post: this.post,
      ensureUploaded: vi.fn(async (sha256s: string[]) => {
        for (const sha of sha256s) this.blobs.add(sha);
      }),
      ...extra,
    };
  }
}

const byId = async (clientId = CLIENT) => new Map((await entriesOf(clientId)).map((e) => [e.id, e]));

async function enqueueMany(n: number, clientId = CLIENT, args: () => Record<string, unknown> = () => ({ job_id: JOB, log_id: uuid(), kind: 'note', text: 'x' })) {
  const out: OutboxEntry[] = [];
  for (let i = 0; i < n; i += 1) out.push(await enqueue(clientId, 'job.log', args()));
  return out;
}

beforeEach(async () => {
  if (!db.isOpen()) await db.open();
  await Promise.all(db.tables.map((table) => table.clear()));
});

describe('enqueue', () => {
  it('records the entry queued, numbered 1, 2, 3 per client, with its refs, blobs and job', async () => {
    const now = new Date('2026-11-24T08:03:11.456Z');
    const first = await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'on_site' }, { now, label: 'J-0042' });
    const second = await enqueue(CLIENT, 'job.step', { job_id: JOB, step_id: 's1', result: 'pass', blobs: [SHA_A, SHA_A, 'not-a-hash'] });
    const otherFirst = await enqueue(OTHER, 'job.log', { job_id: JOB2, log_id: uuid(), kind: 'note', text: 'hi' });
    const third = await enqueue(CLIENT, 'custody.return', { move_id: uuid(), asset_id: uuid(), to_location_id: uuid(), condition: 'ok' });

    expect([first.id, second.id, third.id]).toEqual([1, 2, 3]);
    expect(otherFirst.id).toBe(1);
    expect(first).toMatchObject({
      clientId: CLIENT,
      name: 'job.transition',
      state: 'queued',
      attempts: 0,
      jobId: JOB,
      refs: [JOB],
      blobs: [],
      label: 'J-0042',
      client_time: '2026-11-24T08:03:11Z', // RFC 3339, whole seconds
      createdAt: now.getTime(),
    });
    expect(second.blobs).toEqual([SHA_A]);
    expect(third.jobId).toBeUndefined();
    expect(third.refs).toHaveLength(3);

    const stored = await entriesOf(CLIENT);
    expect(stored.map((e) => e.id)).toEqual([1, 2, 3]);
    expect(stored[0].seq).toBe(first.seq);
    expect(await db.outbox.count()).toBe(4);
  });

  it('tells listeners after the entry is committed', async () => {
    const seen: number[] = [];
    const stop = onEnqueue(() => {
      void db.outbox.count().then((n) => seen.push(n));
    });
    await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'accepted' });
    stop();
    await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'en_route' });
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([1]);
  });

  it('commits the other writes with the entry, and neither when one of them fails (no id is used up)', async () => {
    await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'accepted' }, {
      alsoInTransaction: async () => {
        await db.meta.put({ key: 'side-effect', value: 1 });
      },
    });
    expect((await db.meta.get('side-effect'))?.value).toBe(1);

    await expect(
      enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'en_route' }, {
        alsoInTransaction: async () => {
          await db.meta.put({ key: 'side-effect', value: 2 });
          throw new Error('draft gone');
        },
      }),
    ).rejects.toThrow('draft gone');
    expect((await db.meta.get('side-effect'))?.value).toBe(1);
    expect((await entriesOf(CLIENT)).map((e) => e.id)).toEqual([1]);

    const next = await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'en_route' });
    expect(next.id).toBe(2); // no gap
  });

  it('numbers concurrent writes without a duplicate or a gap', async () => {
    const entries = await Promise.all(
      Array.from({ length: 20 }, (_, i) => enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: String(i) })),
    );
    expect(entries.map((e) => e.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('never reuses an id after the entries holding it were dropped', async () => {
    const server = new FakeServer();
    await enqueueMany(3);
    const { checkpoint } = await push(CLIENT, server.deps());
    expect(await dropSettled(CLIENT, BigInt(checkpoint!))).toBe(3);
    expect(await db.outbox.count()).toBe(0);
    const next = await enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'again' });
    expect(next.id).toBe(4);
    await push(CLIENT, server.deps());
    expect(server.stored.get(4)?.status).toBe('applied'); // the server took it (no gap, no duplicate)
  });

  it('continues from the outbox when the counter is behind it', async () => {
    // A counter lost (or never written by an older build): the outbox's own newest id still counts.
    await enqueueMany(2);
    await db.meta.delete('mutation-counter:' + CLIENT);
    expect((await enqueueMany(1))[0].id).toBe(3);
  });
});

describe('numbering across reloads', () => {
  afterEach(async () => {
    vi.resetModules();
    if (!db.isOpen()) await db.open();
  });

  it('continues 1, 2, 3 … in a new page load with no gaps and no reuse, even after entries were dropped', async () => {
    const server = new FakeServer();
    await enqueueMany(3);
    const { checkpoint } = await push(CLIENT, server.deps());
    await enqueueMany(2); // 4, 5 queued
    expect(await dropSettled(CLIENT, BigInt(checkpoint!))).toBe(3); // 1–3 gone
    db.close();

    // A reload: fresh modules, so a fresh `db` singleton and a fresh Dexie connection to the same database.
    vi.resetModules();
    const fresh = await import('./outbox');
    const freshDb = (await import('../db')).db;
    expect(freshDb).not.toBe(db);
    expect((await fresh.entriesOf(CLIENT)).map((e) => [e.id, e.state])).toEqual([
      [4, 'queued'],
      [5, 'queued'],
    ]);
    const sixth = await fresh.enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'after reload' });
    expect(sixth.id).toBe(6);

    // Drop everything, reload again: the counter remembers.
    await fresh.push(CLIENT, server.deps());
    expect(await fresh.dropSettled(CLIENT, BigInt(server.feed))).toBe(3);
    expect(await freshDb.outbox.count()).toBe(0);
    freshDb.close();

    const reopened = new FieldQDB('fieldq');
    await reopened.open();
    expect((await reopened.meta.get('mutation-counter:' + CLIENT))?.value).toBe(6);
    reopened.close();

    vi.resetModules();
    const third = await import('./outbox');
    const seventh = await third.enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'later' });
    expect(seventh.id).toBe(7);
    await third.push(CLIENT, server.deps());
    expect([...server.stored.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(server.bodies.flatMap((b) => b.mutations.map((m) => m.id))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    (await import('../db')).db.close();
  });
});

describe('refs and blobs', () => {
  it('refsOf finds every UUID at any depth, once', () => {
    const a = uuid();
    const b = 'd3b07384-d113-4ec4-9a2e-5f2b1c0e7a9f';
    expect(refsOf({ job_id: a, nested: { list: [b, a, 'x', 3, null] }, text: 'not-a-uuid', upper: b.toUpperCase() })).toEqual([
      a,
      b,
      b.toUpperCase(),
    ]);
    expect(refsOf({})).toEqual([]);
  });

  it('blobsOf reads blob, signature_blob and blobs, hashes only', () => {
    expect(blobsOf({ blob: SHA_A, signature_blob: SHA_B, blobs: [SHA_A, 'nope', 'A'.repeat(64)] })).toEqual([SHA_A, SHA_B]);
    expect(blobsOf({ blobs: 'not-a-list', blob: 42 })).toEqual([]);
  });
});

describe('nextBatch', () => {
  const entry = (id: number, text = 'x'): OutboxEntry => ({
    seq: id,
    id,
    clientId: CLIENT,
    name: 'job.log',
    args: { text },
    client_time: '2026-11-24T08:00:00Z',
    state: 'queued',
    refs: [],
    blobs: [],
    createdAt: 0,
    attempts: 0,
  });
  const wireBytes = (batch: OutboxEntry[]) =>
    batch.reduce(
      (sum, e) => sum + new TextEncoder().encode(JSON.stringify({ id: e.id, name: e.name, client_time: e.client_time, args: e.args })).length,
      0,
    );

  it('takes at most MAX_BATCH (100) mutations, in order', () => {
    expect(MAX_BATCH).toBe(100);
    const pending = Array.from({ length: 250 }, (_, i) => entry(i + 1));
    const batch = nextBatch(pending);
    expect(batch).toHaveLength(100);
    expect(batch.map((e) => e.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(nextBatch(pending.slice(200))).toHaveLength(50);
    expect(nextBatch([])).toEqual([]);
  });

  it('keeps a batch within about 4 MiB of UTF-8 (bytes, not characters)', () => {
    expect(MAX_BATCH_BYTES).toBeLessThanOrEqual(4 * 1024 * 1024);
    // 500 000 CJK characters are 1.5 MB of UTF-8: two fit, a third would not.
    const pending = Array.from({ length: 5 }, (_, i) => entry(i + 1, '张'.repeat(500_000)));
    const batch = nextBatch(pending);
    expect(batch.map((e) => e.id)).toEqual([1, 2]);
    expect(wireBytes(batch)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  });

  it('sends a single entry larger than the limit alone (the server answers 413 for it, not the others)', () => {
    const big = entry(1, 'x'.repeat(MAX_BATCH_BYTES + 10));
    expect(nextBatch([big, entry(2)]).map((e) => e.id)).toEqual([1]);
    expect(nextBatch([entry(1), { ...big, id: 2 }]).map((e) => e.id)).toEqual([1]);
  });
});

describe('push', () => {
  it('sends pending entries in id order and records applied results with the write checkpoint', async () => {
    const server = new FakeServer();
    server.decide = () => ({ status: 'applied', version: 18 });
    await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'on_site' }, { now: new Date('2026-11-24T08:03:11Z') });
    await enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'ok' });
    const device = vi.fn(async () => ({ app_version: 't', outbox_pending: 2, oldest_pending_at: null, blobs_pending: 0 }));

    const summary = await push(CLIENT, server.deps({ device }));

    expect(summary).toEqual({ pushed: 2, checkpoint: '2' });
    expect(server.bodies).toHaveLength(1);
    expect(server.bodies[0]).toMatchObject({ protocol: 1, client_id: CLIENT, device: { app_version: 't' } });
    expect(server.bodies[0].mutations[0]).toEqual({
      id: 1,
      name: 'job.transition',
      client_time: '2026-11-24T08:03:11Z',
      args: { job_id: JOB, to: 'on_site' },
    });
    const entries = await entriesOf(CLIENT);
    for (const entry of entries) {
      expect(entry).toMatchObject({ state: 'applied', checkpoint: '2', attempts: 1 });
      expect(entry.result).toEqual({ id: entry.id, status: 'applied', version: 18 });
      expect(entry.seen).toBeUndefined();
      expect(needsAttention(entry)).toBe(false);
    }
    // Nothing pending: nothing posted.
    expect(await push(CLIENT, server.deps())).toEqual({ pushed: 0, checkpoint: null });
    expect(server.post).toHaveBeenCalledTimes(1);
  });

  it('sends no device report when the report fails, and pushes anyway', async () => {
    const server = new FakeServer();
    await enqueueMany(1);
    await push(CLIENT, server.deps({ device: async () => Promise.reject(new Error('no storage api')) }));
    expect(server.bodies[0].device).toBeUndefined();
    expect((await entriesOf(CLIENT))[0].state).toBe('applied');
  });

  it('only pushes the given client', async () => {
    const server = new FakeServer();
    await enqueueMany(2, OTHER);
    await enqueueMany(1, CLIENT);
    await push(CLIENT, server.deps());
    expect(server.bodies.flatMap((b) => b.mutations.map((m) => m.id))).toEqual([1]);
    expect((await entriesOf(OTHER)).map((e) => e.state)).toEqual(['queued', 'queued']);
  });

  it('records every status: applied, merged, rejected (kept, needs attention), duplicate', async () => {
    const server = new FakeServer();
    server.decide = (m) => {
      switch (m.args.text) {
        case 'merged':
          return { status: 'merged', overridden_fields: ['description'], exception_id: 'e1' };
        case 'rejected':
          return { status: 'rejected', code: 'STALE_TRANSITION', message: 'the job is cancelled', exception_id: 'e2' };
        default:
          return { status: 'applied' };
      }
    };
    for (const text of ['applied', 'merged', 'rejected']) {
      await enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text });
    }
    // Entry 4 was processed by the server before, in a push whose answer was lost.
    await enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'dup' });
    server.stored.set(4, { id: 4, status: 'applied', version: 3 });
    // Make the server "already at 4" only for id 4: process 1–3 first, then pretend.
    await push(CLIENT, {
      ...server.deps(),
      post: async (body) => {
        const response = await server.post({ ...body, mutations: body.mutations.filter((m) => m.id < 4) });
        server.last = 4;
        server.feed += 1;
        response.results.push({ id: 4, status: 'duplicate', result: { id: 4, status: 'applied', version: 3 } });
        response.write_checkpoint = String(server.feed);
        return response;
      },
    });

    const e = await byId();
    expect(e.get(1)).toMatchObject({ state: 'applied', checkpoint: '4' });
    expect(e.get(2)).toMatchObject({ state: 'merged', seen: 0, result: { overridden_fields: ['description'], exception_id: 'e1' } });
    expect(e.get(3)).toMatchObject({ state: 'rejected', seen: 0, result: { code: 'STALE_TRANSITION', exception_id: 'e2' } });
    expect(e.get(4)).toMatchObject({ state: 'duplicate', result: { status: 'duplicate', result: { status: 'applied' } } });
    expect(e.get(4)!.seen).toBeUndefined();
    expect([...e.values()].every(isFinal)).toBe(true);
    expect([...e.values()].map(needsAttention)).toEqual([false, true, true, false]);
    expect(effectiveStatus(e.get(4)!)).toBe('applied');
  });

  it('treats a duplicate by its stored result (a stored rejection needs attention)', async () => {
    const server = new FakeServer();
    server.decide = () => ({ status: 'rejected', code: 'FORBIDDEN', message: 'not your job' });
    await enqueueMany(1);
    server.loseAfter = 1; // committed, answer lost
    await expect(push(CLIENT, server.deps())).rejects.toThrow('network connection lost');
    expect((await entriesOf(CLIENT))[0].state).toBe('sent');

    await push(CLIENT, server.deps());
    const [entry] = await entriesOf(CLIENT);
    expect(entry.state).toBe('duplicate');
    expect(effectiveStatus(entry)).toBe('rejected');
    expect(entry.seen).toBe(0);
    expect(needsAttention(entry)).toBe(true);
    expect(overlays(entry, null)).toBe(false); // a rejected effect is not shown
  });

  it('leaves entries re-sendable after a transport failure: sent → pushed again → applied once', async () => {
    const server = new FakeServer();
    await enqueueMany(3);
    server.failBefore = 1;
    await expect(push(CLIENT, server.deps())).rejects.toThrow('Failed to fetch');
    let entries = await entriesOf(CLIENT);
    expect(entries.map((e) => [e.state, e.attempts])).toEqual([
      ['sent', 1],
      ['sent', 1],
      ['sent', 1],
    ]);
    expect(await pendingEntries(CLIENT)).toHaveLength(3);

    const summary = await push(CLIENT, server.deps());
    expect(summary.pushed).toBe(3);
    entries = await entriesOf(CLIENT);
    expect(entries.map((e) => [e.state, e.attempts])).toEqual([
      ['applied', 2],
      ['applied', 2],
      ['applied', 2],
    ]);
    expect(server.bodies.map((b) => b.mutations.map((m) => m.id))).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(server.stored.size).toBe(3);
  });

  it('after a lost answer, the entries come back duplicate and nothing is applied twice', async () => {
    const server = new FakeServer();
    await enqueueMany(2);
    server.loseAfter = 1;
    await expect(push(CLIENT, server.deps())).rejects.toThrow();
    expect(server.feed).toBe(2);
    await enqueueMany(1); // 3, new since
    await push(CLIENT, server.deps());
    expect(server.feed).toBe(3); // 1 and 2 not applied again
    const e = await byId();
    expect(e.get(1)!.state).toBe('duplicate');
    expect(e.get(2)!.state).toBe('duplicate');
    expect(e.get(3)!.state).toBe('applied');
    expect([...e.values()].map(effectiveStatus)).toEqual(['applied', 'applied', 'applied']);
  });

  it('leaves entries queued when the blobs cannot be uploaded first', async () => {
    const server = new FakeServer();
    await enqueue(CLIENT, 'job.attach', { attachment_id: uuid(), job_id: JOB, blob: SHA_A });
    const deps = server.deps({
      ensureUploaded: vi.fn(async () => {
        throw new TypeError('offline');
      }),
    });
    await expect(push(CLIENT, deps)).rejects.toThrow('offline');
    expect(deps.ensureUploaded).toHaveBeenCalledWith([SHA_A]);
    expect(server.post).not.toHaveBeenCalled();
    expect((await entriesOf(CLIENT))[0]).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it('uploads the blobs a batch names before posting it', async () => {
    const server = new FakeServer();
    const order: string[] = [];
    await enqueue(CLIENT, 'job.step', { job_id: JOB, step_id: 's1', result: 'pass', blobs: [SHA_A, SHA_B] });
    await enqueue(CLIENT, 'job.attach', { attachment_id: uuid(), job_id: JOB, blob: SHA_A });
    const deps = server.deps({
      ensureUploaded: vi.fn(async (shas: string[]) => {
        order.push('upload');
        shas.forEach((s) => server.blobs.add(s));
      }),
      post: async (body) => {
        order.push('post');
        return server.post(body);
      },
    });
    await push(CLIENT, deps);
    expect(deps.ensureUploaded).toHaveBeenCalledTimes(1);
    expect(deps.ensureUploaded).toHaveBeenCalledWith([SHA_A, SHA_B]);
    expect(order).toEqual(['upload', 'post']);
    expect((await entriesOf(CLIENT)).map((e) => e.state)).toEqual(['applied', 'applied']);
  });

  it('blocked → uploads the named blob with force → pushes again from that id → applied', async () => {
    const server = new FakeServer();
    await enqueueMany(1); // 1: no blob
    await enqueue(CLIENT, 'job.attach', { attachment_id: uuid(), job_id: JOB, blob: SHA_A }); // 2
    await enqueueMany(2); // 3, 4: queued behind it
    // The phone believes SHA_A is uploaded (the server lost it): the ordinary upload does nothing;
    // a forced one puts it. Record the states the entries are in when the forced upload happens.
    const states: string[][] = [];
    const ensure = vi.fn(async (shas: string[], force?: boolean) => {
      if (!force) return;
      states.push((await entriesOf(CLIENT)).map((e) => e.state));
      shas.forEach((s) => server.blobs.add(s));
    });
    const deps: PushDeps = { post: server.post, ensureUploaded: ensure };

    const summary = await push(CLIENT, deps);

    expect(server.bodies.map((b) => b.mutations.map((m) => m.id))).toEqual([
      [1, 2, 3, 4],
      [2, 3, 4],
    ]);
    // Before the first post; forced after the blocked answer; before the second post.
    expect(ensure.mock.calls).toEqual([[[SHA_A]], [[SHA_A], true], [[SHA_A]]]);
    expect(states).toEqual([['applied', 'blocked', 'queued', 'queued']]);
    const e = await byId();
    expect(e.get(2)).toMatchObject({ state: 'applied', attempts: 2 });
    expect(e.get(3)).toMatchObject({ state: 'applied', attempts: 2 });
    expect(summary.pushed).toBe(4);
    expect(server.stored.size).toBe(4);
  });

  it('blocked, with the real blob queue: the blob marked uploaded is put again with force, then applied', async () => {
    const server = new FakeServer();
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).buffer;
    await db.originals.put({ sha256: SHA_A, bytes });
    await db.blobs.put({
      sha256: SHA_A,
      clientId: CLIENT,
      type: 'image/jpeg',
      size: bytes.byteLength,
      kept: true,
      createdAt: 1,
      state: 'uploaded',
      sent: bytes.byteLength,
    });
    const transport: BlobTransport = {
      exists: vi.fn(async (sha) => server.blobs.has(sha)),
      put: vi.fn(async (record, onProgress) => {
        onProgress(record.size);
        server.blobs.add(record.sha256);
      }),
    };
    await enqueue(CLIENT, 'job.attach', { attachment_id: uuid(), job_id: JOB, blob: SHA_A });
    await push(CLIENT, {
      post: server.post,
      ensureUploaded: (shas, force) => ensureUploaded(shas, transport, force),
    });
    expect(transport.put).toHaveBeenCalledTimes(1);
    expect(transport.exists).not.toHaveBeenCalled(); // forced: no HEAD first
    expect((await entriesOf(CLIENT))[0].state).toBe('applied');
    expect((await db.blobs.get(SHA_A))!.state).toBe('uploaded');
  });

  it('gives up (throws, entries stay pending) when a blob stays missing after forced uploads', async () => {
    const server = new FakeServer();
    await enqueue(CLIENT, 'job.attach', { attachment_id: uuid(), job_id: JOB, blob: SHA_A });
    const ensure = vi.fn(async () => {}); // never gets it there (not on this phone)
    await expect(push(CLIENT, { post: server.post, ensureUploaded: ensure })).rejects.toThrow(/still missing/);
    expect(ensure.mock.calls.filter((c) => (c as unknown[])[1] === true)).toHaveLength(3);
    const [entry] = await entriesOf(CLIENT);
    expect(entry.state).toBe('blocked');
    expect(entry.result).toMatchObject({ status: 'blocked', code: 'BLOB_MISSING', blob: SHA_A });
    expect(isFinal(entry)).toBe(false);
    expect(await pendingEntries(CLIENT)).toHaveLength(1);
  });

  it('gets past several different missing blobs in one push', async () => {
    // Each blob is missing once (the server lost them); each forced upload fixes its own.
    const server = new FakeServer();
    const shas = ['1', '2', '3', '4', '5'].map((c) => c.repeat(64));
    for (const sha of shas) await enqueue(CLIENT, 'job.attach', { attachment_id: uuid(), job_id: JOB, blob: sha });
    const ensure = vi.fn(async (list: string[], force?: boolean) => {
      if (force) list.forEach((s) => server.blobs.add(s));
    });
    await push(CLIENT, { post: server.post, ensureUploaded: ensure });
    expect((await entriesOf(CLIENT)).map((e) => e.state)).toEqual(Array(5).fill('applied'));
  });

  it('pushes a long outbox in batches of at most 100, each batch after the last one answered', async () => {
    const server = new FakeServer();
    await db.transaction('rw', [db.outbox, db.meta, db.blobs, db.records], async () => {
      for (let i = 0; i < 250; i += 1) await enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: String(i) });
    });
    const summary = await push(CLIENT, server.deps());
    expect(server.bodies.map((b) => b.mutations.length)).toEqual([100, 100, 50]);
    expect(server.bodies.map((b) => b.mutations[0].id)).toEqual([1, 101, 201]);
    expect(summary).toEqual({ pushed: 250, checkpoint: '250' });
    expect((await pendingEntries(CLIENT)).length).toBe(0);
  });

  it('keeps each push body under 4 MiB', async () => {
    const server = new FakeServer();
    for (let i = 0; i < 7; i += 1) {
      await enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'x'.repeat(1_200_000) });
    }
    await push(CLIENT, server.deps());
    expect(server.bodies.map((b) => b.mutations.length)).toEqual([3, 3, 1]);
    for (const body of server.bodies) {
      expect(new TextEncoder().encode(JSON.stringify(body)).length).toBeLessThanOrEqual(4 * 1024 * 1024);
    }
  });

  it('stops with OutboxGapError when the server is behind entries the phone no longer has', async () => {
    const server = new FakeServer();
    await enqueueMany(3);
    await push(CLIENT, server.deps());
    await dropSettled(CLIENT, BigInt(server.feed));
    await enqueueMany(1); // 4
    // The server was restored from a backup taken at mutation 2: 3 is gone on both sides.
    server.last = 2;
    const error = await push(CLIENT, server.deps()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboxGapError);
    expect(String((error as Error).message)).toMatch(/server is at mutation 2.*next is 4/);
    expect((await entriesOf(CLIENT))[0]).toMatchObject({ id: 4, state: 'queued' });
  });

  it('resends entries the server did not get to (a gap inside a batch), then reports the gap', async () => {
    const server = new FakeServer();
    await enqueueMany(4);
    // A proxy that loses mutation 3 on the way: the server applies 1 and 2, then stops at the gap.
    const error = await push(CLIENT, {
      ...server.deps(),
      post: (body) => server.post({ ...body, mutations: body.mutations.filter((m) => m.id !== 3) }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboxGapError);
    expect(server.bodies.map((b) => b.mutations.map((m) => m.id))).toEqual([[1, 2, 4], [4]]);
    const e = await byId();
    expect(e.get(1)!.state).toBe('applied');
    expect(e.get(2)!.state).toBe('applied');
    expect(e.get(3)!.state).toBe('queued'); // no result: it goes again next time
    expect(e.get(4)!.state).toBe('queued');
  });

  it('stops (entries pending) on a blocked answer that names no blob, instead of pushing forever', async () => {
    const server = new FakeServer();
    await enqueueMany(2);
    let posts = 0;
    const error = await push(CLIENT, {
      ...server.deps(),
      post: async (body) => {
        posts += 1;
        if (posts > 5) throw new Error('pushed in a loop');
        return { last_mutation_id: 0, write_checkpoint: '0', results: [{ id: body.mutations[0].id, status: 'blocked', code: 'SOMETHING_NEW' }] };
      },
    }).catch((e: unknown) => e);
    expect(String(error)).toMatch(/SOMETHING_NEW/);
    expect(posts).toBe(1);
    expect((await entriesOf(CLIENT)).map((e) => e.state)).toEqual(['blocked', 'queued']);
  });

});

describe('dropSettled', () => {
  /** One entry per case, with its state, checkpoint and seen flag set directly. */
  async function seed(cases: Partial<OutboxEntry>[]): Promise<number[]> {
    const seqs: number[] = [];
    for (const change of cases) {
      const entry = await enqueue(CLIENT, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'x' });
      await db.outbox.update(entry.seq!, change);
      seqs.push(entry.seq!);
    }
    return seqs;
  }

  it('drops only final entries a pull reached that need no attention (or were seen)', async () => {
    const seqs = await seed([
      { state: 'queued' }, // 0 not final
      { state: 'sent' }, // 1 not final
      { state: 'blocked', result: { id: 3, status: 'blocked', blob: SHA_A } }, // 2 not final
      { state: 'applied', checkpoint: '10' }, // 3 reached → drop
      { state: 'applied', checkpoint: '11' }, // 4 not reached
      { state: 'applied' }, // 5 no checkpoint → never reached
      { state: 'merged', checkpoint: '5', seen: 0 }, // 6 needs attention
      { state: 'merged', checkpoint: '5', seen: 1 }, // 7 seen → drop
      { state: 'rejected', checkpoint: '5', seen: 0 }, // 8 needs attention
      { state: 'rejected', checkpoint: '5', seen: 1 }, // 9 seen → drop
      { state: 'duplicate', checkpoint: '9', result: { id: 11, status: 'duplicate', result: { status: 'applied' } } }, // 10 → drop
      { state: 'duplicate', checkpoint: '9', seen: 0, result: { id: 12, status: 'duplicate', result: { status: 'rejected' } } }, // 11 attention
    ]);
    expect(await dropSettled(CLIENT, 10n)).toBe(4);
    const left = new Set((await db.outbox.toArray()).map((e) => e.seq));
    const dropped = seqs.map((s, i) => (left.has(s) ? null : i)).filter((i) => i !== null);
    expect(dropped).toEqual([3, 7, 9, 10]);
  });

  it('compares checkpoints as numbers, not strings', async () => {
    await seed([{ state: 'applied', checkpoint: '9' }, { state: 'applied', checkpoint: '100' }]);
    expect(await dropSettled(CLIENT, 10n)).toBe(1); // '9' <= 10, '100' > 10 (as strings '9' > '10')
    expect((await db.outbox.toArray()).map((e) => e.checkpoint)).toEqual(['100']);
  });

  it('keeps a rejected or merged entry until markSeen, then drops it', async () => {
    const server = new FakeServer();
    server.decide = (m) =>
      m.id === 1 ? { status: 'rejected', code: 'STALE_TRANSITION', message: 'cancelled' } : { status: 'merged', overridden_fields: ['priority'] };
    await enqueueMany(2);
    const { checkpoint } = await push(CLIENT, server.deps());
    const reached = BigInt(checkpoint!);
    expect(await dropSettled(CLIENT, reached)).toBe(0);
    const [rejected, merged] = await entriesOf(CLIENT);
    expect(rejected.seen).toBe(0);
    await markSeen(rejected.seq!);
    expect(needsAttention((await db.outbox.get(rejected.seq!))!)).toBe(false);
    expect(await dropSettled(CLIENT, reached)).toBe(1);
    expect((await entriesOf(CLIENT)).map((e) => e.id)).toEqual([merged.id]);
    await markSeen(merged.seq!);
    expect(await dropSettled(CLIENT, reached)).toBe(1);
    expect(await db.outbox.count()).toBe(0);
  });

  it('only drops the given client’s entries', async () => {
    const server = new FakeServer();
    await enqueueMany(1, CLIENT);
    await enqueueMany(1, OTHER);
    await push(CLIENT, server.deps());
    await db.outbox.where('clientId').equals(OTHER).modify({ state: 'applied', checkpoint: '1' });
    expect(await dropSettled(CLIENT, 99n)).toBe(1);
    expect(await entriesOf(OTHER)).toHaveLength(1);
  });

  it('full cycle: queued → sent → applied → kept until the pull reaches the checkpoint → dropped', async () => {
    const server = new FakeServer();
    server.feed = 41;
    const [entry] = await enqueueMany(1);
    expect(entry.state).toBe('queued');
    let observed = '';
    await push(CLIENT, {
      ...server.deps(),
      post: async (body) => {
        observed = (await db.outbox.get(entry.seq!))!.state;
        return server.post(body);
      },
    });
    expect(observed).toBe('sent');
    const applied = (await db.outbox.get(entry.seq!))!;
    expect(applied).toMatchObject({ state: 'applied', checkpoint: '42' });
    expect(overlays(applied, 41n)).toBe(true); // the pull has not brought it back yet: still shown from the entry
    expect(await dropSettled(CLIENT, 41n)).toBe(0);
    expect(overlays(applied, 42n)).toBe(false);
    expect(await dropSettled(CLIENT, 42n)).toBe(1);
  });
});

describe('overlays, needsAttention, effectiveStatus', () => {
  const base: OutboxEntry = {
    seq: 1,
    id: 1,
    clientId: CLIENT,
    name: 'job.transition',
    args: {},
    client_time: '',
    state: 'queued',
    refs: [],
    blobs: [],
    createdAt: 0,
    attempts: 0,
  };

  it('shows unfinished entries, and final ones until their checkpoint is pulled; never rejected ones', () => {
    expect(overlays({ ...base, state: 'queued' }, null)).toBe(true);
    expect(overlays({ ...base, state: 'sent' }, 100n)).toBe(true);
    expect(overlays({ ...base, state: 'blocked' }, 100n)).toBe(true);
    expect(overlays({ ...base, state: 'applied', checkpoint: '7' }, null)).toBe(true);
    expect(overlays({ ...base, state: 'applied', checkpoint: '7' }, 6n)).toBe(true);
    expect(overlays({ ...base, state: 'applied', checkpoint: '7' }, 7n)).toBe(false);
    expect(overlays({ ...base, state: 'merged', checkpoint: '7' }, 6n)).toBe(true);
    expect(overlays({ ...base, state: 'rejected', checkpoint: '7' }, null)).toBe(false);
    expect(overlays({ ...base, state: 'duplicate', checkpoint: '7', result: { id: 1, status: 'duplicate', result: { status: 'rejected' } } }, null)).toBe(false);
    expect(overlays({ ...base, state: 'duplicate', checkpoint: '7', result: { id: 1, status: 'duplicate', result: { status: 'applied' } } }, 6n)).toBe(true);
  });

  it('a duplicate with no stored result counts as itself', () => {
    const entry: OutboxEntry = { ...base, state: 'duplicate', result: { id: 1, status: 'duplicate' } };
    expect(effectiveStatus(entry)).toBe('duplicate');
    expect(needsAttention(entry)).toBe(false);
    expect(isFinal(entry)).toBe(true);
  });
});

describe('moveToNewClient', () => {
  it('moves the unanswered entries to the new client, renumbered from 1 in order, queued', async () => {
    const server = new FakeServer();
    await enqueueMany(2); // 1, 2 → applied
    await push(CLIENT, server.deps());
    await enqueueMany(3); // 3, 4, 5
    await db.outbox.where('[clientId+id]').equals([CLIENT, 4]).modify({ state: 'sent', attempts: 1 });
    await db.outbox.where('[clientId+id]').equals([CLIENT, 5]).modify({ state: 'blocked' });
    const before = await entriesOf(CLIENT);

    await moveToNewClient(CLIENT, OTHER);

    const moved = await entriesOf(OTHER);
    expect(moved.map((e) => [e.id, e.state])).toEqual([
      [1, 'queued'],
      [2, 'queued'],
      [3, 'queued'],
    ]);
    expect(moved.map((e) => e.seq)).toEqual(before.slice(2).map((e) => e.seq)); // same entries, same order
    expect(moved.map((e) => e.args)).toEqual(before.slice(2).map((e) => e.args)); // record ids kept
    expect((await entriesOf(CLIENT)).map((e) => [e.id, e.state])).toEqual([
      [1, 'applied'],
      [2, 'applied'],
    ]);

    const next = await enqueue(OTHER, 'job.log', { job_id: JOB, log_id: uuid(), kind: 'note', text: 'new' });
    expect(next.id).toBe(4);

    // A server that has never heard of the new client takes them from 1.
    const fresh = new FakeServer();
    await push(OTHER, fresh.deps());
    expect(fresh.bodies.flatMap((b) => b.mutations.map((m) => m.id))).toEqual([1, 2, 3, 4]);
    expect((await entriesOf(OTHER)).every((e) => e.state === 'applied')).toBe(true);
  });

  it('with nothing pending, the new client starts at 1', async () => {
    await moveToNewClient(CLIENT, OTHER);
    expect((await enqueueMany(1, OTHER))[0].id).toBe(1);
  });
});
