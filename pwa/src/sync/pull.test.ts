import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { db, type SyncedRecord } from '../db';
import { enqueue, entriesOf } from './outbox';
import {
  adoptRecords,
  applyPage,
  claimRecords,
  forgetRecords,
  pullAll,
  pulledCheckpoint,
  pullState,
  releasePinned,
  type Change,
  type PullBody,
  type PullPage,
} from './pull';

const CLIENT = '0b6c2a8e-1111-4c1a-9d7e-000000000001';
const OTHER = '0b6c2a8e-2222-4c1a-9d7e-000000000002';
const JOB = '5e0f0d4e-7a1b-4c2d-8e3f-00000000000a';
const JOB2 = '5e0f0d4e-7a1b-4c2d-8e3f-00000000000b';
const STEP = '6a1f0d4e-7a1b-4c2d-8e3f-0000000000c1';
const SITE = '7b2f0d4e-7a1b-4c2d-8e3f-0000000000d1';

const page = (changes: Change[], extra: Partial<PullPage> = {}): PullPage => ({
  cursor: 'c1',
  has_more: false,
  reset: false,
  last_mutation_id: 0,
  server_time: '2026-11-24T09:00:00Z',
  checkpoint: '1',
  changes,
  ...extra,
});
const put = (entity: string, id: string, data: Record<string, unknown> = {}, version = 1): Change => ({ entity, id, op: 'put', version, data });
const del = (entity: string, id: string): Change => ({ entity, id, op: 'del' });

const record = (entity: string, id: string) => db.records.get([entity, id]);
const all = async () => (await db.records.toArray()).map((r) => `${r.entity}:${r.id}${r.pinned ? ' (pinned)' : ''}`).sort();

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
});

describe('applyPage', () => {
  it('stores puts with their version and data, indexing job children by job', async () => {
    await applyPage(CLIENT, page([
      put('job', JOB, { status: 'assigned', job_id: 'ignored-for-a-job' }, 18),
      put('job_step', STEP, { job_id: JOB, step_id: 's1', result: 'pass' }, 3),
      put('site', SITE, { name: 'Plant 4' }),
    ]));
    expect(await record('job', JOB)).toEqual({ entity: 'job', id: JOB, version: 18, data: { status: 'assigned', job_id: 'ignored-for-a-job' } });
    expect(await record('job_step', STEP)).toMatchObject({ version: 3, jobId: JOB });
    expect((await record('site', SITE))!.jobId).toBeUndefined();
    expect(await db.records.where('[entity+jobId]').equals(['job_step', JOB]).count()).toBe(1);
  });

  it('replaces a record with a later version and deletes on del', async () => {
    await applyPage(CLIENT, page([put('job', JOB, { status: 'assigned' }, 1), put('job', JOB2, {}, 1)]));
    await applyPage(CLIENT, page([put('job', JOB, { status: 'accepted' }, 2), del('job', JOB2)], { cursor: 'c2' }));
    expect(await record('job', JOB)).toMatchObject({ version: 2, data: { status: 'accepted' } });
    expect(await record('job', JOB2)).toBeUndefined();
    expect(await all()).toEqual([`job:${JOB}`]);
  });

  it('applies a page in order: put then del leaves nothing, del then put leaves the put', async () => {
    await applyPage(CLIENT, page([put('job', JOB, { n: 1 }), del('job', JOB), del('job', JOB2), put('job', JOB2, { n: 2 }, 5)]));
    expect(await record('job', JOB)).toBeUndefined();
    expect(await record('job', JOB2)).toMatchObject({ version: 5, data: { n: 2 } });
  });

  it('ignores a del of a record it does not hold', async () => {
    await applyPage(CLIENT, page([del('job', JOB)]));
    expect(await db.records.count()).toBe(0);
    expect((await pullState(CLIENT)).cursor).toBe('c1');
  });

  it('saves the cursor, checkpoint, last mutation id and times with the page', async () => {
    expect(await pullState(CLIENT)).toEqual({ cursor: null, checkpoint: null, lastMutationId: 0, lastPullAt: null, serverTime: null });
    expect(await pulledCheckpoint(CLIENT)).toBeNull();
    await applyPage(CLIENT, page([put('job', JOB)], { cursor: 'opaque-1', checkpoint: '42', last_mutation_id: 7 }), 1_700_000_000_000);
    expect(await pullState(CLIENT)).toEqual({
      cursor: 'opaque-1',
      checkpoint: '42',
      lastMutationId: 7,
      lastPullAt: 1_700_000_000_000,
      serverTime: '2026-11-24T09:00:00Z',
    });
    expect(await pulledCheckpoint(CLIENT)).toBe(42n);
    expect((await pullState(OTHER)).cursor).toBeNull(); // per client
  });

  it('saves neither the records nor the cursor of a page that fails part way', async () => {
    await applyPage(CLIENT, page([put('job', JOB, { n: 1 })], { cursor: 'c1', checkpoint: '1' }));
    const broken = page([put('job', JOB, { n: 2 }, 2), put('job', JOB2), { entity: 'job', id: null as unknown as string, op: 'put', data: {} }], {
      cursor: 'c2',
      checkpoint: '2',
    });
    await expect(applyPage(CLIENT, broken)).rejects.toThrow();
    expect(await record('job', JOB)).toMatchObject({ version: 1, data: { n: 1 } });
    expect(await record('job', JOB2)).toBeUndefined();
    expect(await pullState(CLIENT)).toMatchObject({ cursor: 'c1', checkpoint: '1' });
  });

  it('on reset replaces the synced data but never touches the outbox', async () => {
    await applyPage(CLIENT, page([put('job', JOB), put('site', SITE)]));
    await enqueue(CLIENT, 'job.log', { job_id: '9f000000-0000-4000-8000-000000000000', log_id: '9f000000-0000-4000-8000-000000000001', kind: 'note', text: 'x' });
    await applyPage(CLIENT, page([put('job', JOB2)], { reset: true, cursor: 'fresh' }));
    expect(await all()).toEqual([`job:${JOB2}`]);
    expect(await entriesOf(CLIENT)).toHaveLength(1);
    expect((await pullState(CLIENT)).cursor).toBe('fresh');
  });
});

describe('pinning', () => {
  it('a del of a record an unfinished entry names keeps it, pinned', async () => {
    await applyPage(CLIENT, page([put('job', JOB, { status: 'on_site' }), put('job', JOB2)]));
    await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'work_done' });
    await applyPage(CLIENT, page([del('job', JOB), del('job', JOB2)], { cursor: 'c2' }));
    expect(await record('job', JOB)).toMatchObject({ pinned: 1, data: { status: 'on_site' } });
    expect(await record('job', JOB2)).toBeUndefined();
    expect(await db.records.where('pinned').equals(1).count()).toBe(1);
  });

  it('names count in every state that is not final (queued, sent, blocked), of any client', async () => {
    const ids = ['a1000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000002', 'a1000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000004'];
    await applyPage(CLIENT, page(ids.map((id) => put('job', id))));
    const states = ['queued', 'sent', 'blocked', 'applied'] as const;
    for (const [i, id] of ids.entries()) {
      const entry = await enqueue(i === 0 ? OTHER : CLIENT, 'job.transition', { job_id: id, to: 'accepted' });
      await db.outbox.update(entry.seq!, { state: states[i] });
    }
    await applyPage(CLIENT, page(ids.map((id) => del('job', id))));
    expect(await all()).toEqual(ids.slice(0, 3).map((id) => `job:${id} (pinned)`));
  });

  it('a pinned record that comes back in scope is unpinned', async () => {
    await applyPage(CLIENT, page([put('job', JOB, {}, 1)]));
    await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'accepted' });
    await applyPage(CLIENT, page([del('job', JOB)]));
    expect((await record('job', JOB))!.pinned).toBe(1);
    await applyPage(CLIENT, page([put('job', JOB, { back: true }, 3)]));
    const back = (await record('job', JOB))!;
    expect(back.pinned).toBeUndefined();
    expect(back).toMatchObject({ version: 3, data: { back: true } });
  });

  it('a reset keeps (pinned) only the records the outbox names', async () => {
    await applyPage(CLIENT, page([put('job', JOB, { status: 'on_site' }), put('job', JOB2), put('site', SITE), put('job_step', STEP, { job_id: JOB })]));
    await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'work_done' });
    const done = await enqueue(CLIENT, 'job.transition', { job_id: JOB2, to: 'accepted' });
    await db.outbox.update(done.seq!, { state: 'applied', checkpoint: '1' }); // final: no longer holds JOB2
    await applyPage(CLIENT, page([put('customer', 'c0000000-0000-4000-8000-000000000001', { name: 'ACME' })], { reset: true, cursor: 'r1', has_more: true }));
    expect(await all()).toEqual(['customer:c0000000-0000-4000-8000-000000000001', `job:${JOB} (pinned)`]);
    expect(await record('job', JOB)).toMatchObject({ data: { status: 'on_site' } });
    expect(await entriesOf(CLIENT)).toHaveLength(2); // the outbox is never replaced
    // The rest of the reset brings the job back: no longer pinned.
    await applyPage(CLIENT, page([put('job', JOB, { status: 'on_site' }, 9)], { cursor: 'r2' }));
    expect(await all()).toEqual(['customer:c0000000-0000-4000-8000-000000000001', `job:${JOB}`]);
  });

  it('releasePinned removes pinned records once their entries are final, and no others', async () => {
    await applyPage(CLIENT, page([put('job', JOB), put('job', JOB2), put('site', SITE)]));
    const a = await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'work_done' });
    await enqueue(CLIENT, 'job.transition', { job_id: JOB2, to: 'accepted' });
    await applyPage(CLIENT, page([del('job', JOB), del('job', JOB2)]));
    expect(await releasePinned()).toBe(0); // both still named
    expect(await all()).toEqual([`job:${JOB} (pinned)`, `job:${JOB2} (pinned)`, `site:${SITE}`]);

    await db.outbox.update(a.seq!, { state: 'rejected', checkpoint: '2', seen: 0 });
    expect(await releasePinned()).toBe(1);
    expect(await all()).toEqual([`job:${JOB2} (pinned)`, `site:${SITE}`]);

    await db.outbox.clear(); // dropped altogether
    expect(await releasePinned()).toBe(1);
    expect(await all()).toEqual([`site:${SITE}`]); // an unpinned record is never released
  });
});

describe('pullAll', () => {
  /** A feed of pages, each answered for the cursor the previous one returned. */
  function feed(pages: PullPage[]) {
    const bodies: PullBody[] = [];
    const post = vi.fn(async (body: PullBody) => {
      bodies.push(structuredClone(body));
      const index = body.cursor === null ? 0 : pages.findIndex((p) => p.cursor === body.cursor) + 1;
      return pages[index];
    });
    return { post, bodies };
  }

  it('pulls pages until has_more is false, sending the saved cursor each time', async () => {
    const { post, bodies } = feed([
      page([put('job', JOB), put('site', SITE)], { cursor: 'p1', has_more: true, reset: true, checkpoint: '5' }),
      page([put('job', JOB2)], { cursor: 'p2', has_more: true, checkpoint: '8' }),
      page([], { cursor: 'p3', has_more: false, checkpoint: '9', last_mutation_id: 4 }),
    ]);
    const device = vi.fn(async () => ({ app_version: 't', outbox_pending: 0, oldest_pending_at: null, blobs_pending: 0 }));
    const progress: number[] = [];
    const reached = await pullAll(CLIENT, { post, device }, (n) => progress.push(n));

    expect(reached).toBe(9n);
    expect(bodies.map((b) => b.cursor)).toEqual([null, 'p1', 'p2']);
    expect(bodies.every((b) => b.protocol === 1 && b.client_id === CLIENT && b.limit === 1000)).toBe(true);
    expect(bodies.map((b) => b.device?.app_version ?? null)).toEqual(['t', null, null]); // the report once per pull
    expect(device).toHaveBeenCalledTimes(1);
    expect(progress).toEqual([2, 3, 3]);
    expect(await pullState(CLIENT)).toMatchObject({ cursor: 'p3', checkpoint: '9', lastMutationId: 4 });
    expect(await all()).toEqual([`job:${JOB}`, `job:${JOB2}`, `site:${SITE}`]);
  });

  it('resumes at the last saved page after a failure', async () => {
    const pages = [
      page([put('job', JOB)], { cursor: 'p1', has_more: true, checkpoint: '1' }),
      page([put('job', JOB2)], { cursor: 'p2', has_more: false, checkpoint: '2' }),
    ];
    const { post, bodies } = feed(pages);
    post.mockImplementationOnce(async (body) => {
      bodies.push(structuredClone(body));
      return pages[0];
    });
    post.mockImplementationOnce(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(pullAll(CLIENT, { post })).rejects.toThrow('Failed to fetch');
    expect((await pullState(CLIENT)).cursor).toBe('p1');
    expect(await all()).toEqual([`job:${JOB}`]);

    expect(await pullAll(CLIENT, { post })).toBe(2n);
    expect(bodies.map((b) => b.cursor)).toEqual([null, 'p1']);
    expect(await all()).toEqual([`job:${JOB}`, `job:${JOB2}`]);
  });

  it('pulls without a device report when making it fails', async () => {
    const { post, bodies } = feed([page([], { cursor: 'p1' })]);
    await pullAll(CLIENT, { post, device: () => Promise.reject(new Error('no')) });
    expect(bodies[0].device).toBeUndefined();
  });

  it('releases pinned records whose entries became final at the end of the pull', async () => {
    await applyPage(CLIENT, page([put('job', JOB)]));
    const entry = await enqueue(CLIENT, 'job.transition', { job_id: JOB, to: 'work_done' });
    await applyPage(CLIENT, page([del('job', JOB)]));
    await db.outbox.update(entry.seq!, { state: 'applied', checkpoint: '3' });
    const { post } = feed([page([], { cursor: 'p9', checkpoint: '3' })]);
    await db.meta.delete('pull:' + CLIENT);
    await pullAll(CLIENT, { post });
    expect(await record('job', JOB)).toBeUndefined();
  });
});

describe('claimRecords, adoptRecords, forgetRecords', () => {
  async function seed(clientId: string) {
    await claimRecords(clientId);
    await applyPage(clientId, page([put('job', JOB), put('site', SITE)], { cursor: 'k1', checkpoint: '4' }));
    await enqueue(clientId, 'job.transition', { job_id: JOB, to: 'accepted' });
  }

  it('claimRecords keeps the records of the same client', async () => {
    await seed(CLIENT);
    await claimRecords(CLIENT);
    expect(await db.records.count()).toBe(2);
    expect((await pullState(CLIENT)).cursor).toBe('k1');
  });

  it('claimRecords clears another owner’s records and cursors, never the outbox', async () => {
    await seed(CLIENT);
    await claimRecords(OTHER);
    expect(await db.records.count()).toBe(0); // not even pinned ones: the next user must not read them
    expect(await pullState(CLIENT)).toMatchObject({ cursor: null, checkpoint: null });
    expect(await entriesOf(CLIENT)).toHaveLength(1);
    expect((await db.meta.get('mutation-counter:' + CLIENT))?.value).toBe(1);
    // Back to the first user: another clear, from scratch.
    await applyPage(OTHER, page([put('job', JOB2)], { cursor: 'o1' }));
    await claimRecords(CLIENT);
    expect(await db.records.count()).toBe(0);
    expect((await pullState(OTHER)).cursor).toBeNull();
    expect(await entriesOf(CLIENT)).toHaveLength(1);
  });

  it('adoptRecords keeps the records but starts the next pull from scratch', async () => {
    await seed(CLIENT);
    await adoptRecords(OTHER);
    expect(await db.records.count()).toBe(2);
    expect((await pullState(CLIENT)).cursor).toBeNull();
    expect((await pullState(OTHER)).cursor).toBeNull();
    await claimRecords(OTHER); // already the owner: nothing cleared
    expect(await db.records.count()).toBe(2);
    expect(await entriesOf(CLIENT)).toHaveLength(1);
  });

  it('forgetRecords clears the scope and cursors (logout), not the outbox', async () => {
    await seed(CLIENT);
    await forgetRecords();
    expect(await db.records.count()).toBe(0);
    expect((await pullState(CLIENT)).cursor).toBeNull();
    expect(await entriesOf(CLIENT)).toHaveLength(1);
    expect(await db.meta.get('records-owner')).toBeUndefined();
    await applyPage(CLIENT, page([put('job', JOB)]));
    await claimRecords(CLIENT); // no owner recorded: claim clears
    expect(await db.records.count()).toBe(0);
  });
});

describe('records type', () => {
  it('keeps data as sent, including nested values', async () => {
    const data = { steps: [{ id: 's1', requires: ['photo'] }], lat: 31.2, none: null };
    await applyPage(CLIENT, page([put('procedure', 'p0000000-0000-4000-8000-000000000001', data, 2)]));
    const stored = (await record('procedure', 'p0000000-0000-4000-8000-000000000001')) as SyncedRecord;
    expect(stored.data).toEqual(data);
  });
});
