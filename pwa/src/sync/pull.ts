/**
 * The pull: the one writer of `db.records` (the user's scope as the change feed last delivered it).
 * Each page and the cursor that follows it are saved in one Dexie transaction, so a reload or a crash
 * resumes at the last saved page. A `reset` replaces the synced data, never the outbox; a record the
 * pull deletes while the outbox still names it stays readable (pinned) until its entries are final.
 */
import { db, type OutboxEntry, type SyncedRecord } from '../db';
import type { DeviceReport } from './outbox';
import { isFinal } from './outbox';

export interface PullBody {
  protocol: 1;
  client_id: string;
  cursor: string | null;
  limit?: number;
  device?: DeviceReport;
}

export interface Change {
  entity: string;
  id: string;
  op: 'put' | 'del';
  version?: number;
  data?: Record<string, unknown>;
}

export interface PullPage {
  cursor: string;
  has_more: boolean;
  reset: boolean;
  last_mutation_id: number;
  server_time: string;
  checkpoint?: string;
  changes: Change[];
}

/** The saved position of a client's pull. */
export interface PullState {
  cursor: string | null;
  checkpoint: string | null;
  lastMutationId: number;
  lastPullAt: number | null;
  serverTime: string | null;
}

const STATE_PREFIX = 'pull:';
/** Whose records `db.records` holds now: another user's login starts from an empty scope. */
const OWNER_KEY = 'records-owner';

export async function pullState(clientId: string): Promise<PullState> {
  const row = await db.meta.get(STATE_PREFIX + clientId);
  return (
    (row?.value as PullState | undefined) ?? {
      cursor: null,
      checkpoint: null,
      lastMutationId: 0,
      lastPullAt: null,
      serverTime: null,
    }
  );
}

/** The feed position the local records reached, for comparing with a push's write_checkpoint. */
export async function pulledCheckpoint(clientId: string): Promise<bigint | null> {
  const { checkpoint } = await pullState(clientId);
  return checkpoint === null ? null : BigInt(checkpoint);
}

/**
 * Makes `db.records` belong to this client: if it holds another login's scope, that is removed (with
 * every saved cursor) and the next pull starts from scratch. The outbox is never touched.
 */
export async function claimRecords(clientId: string): Promise<void> {
  await db.transaction('rw', db.records, db.meta, async () => {
    const owner = (await db.meta.get(OWNER_KEY))?.value;
    if (owner === clientId) return;
    await db.records.clear();
    await db.meta.where('key').startsWith(STATE_PREFIX).delete();
    await db.meta.put({ key: OWNER_KEY, value: clientId });
  });
}

/**
 * The same user's records move to a new client id (the server forgot the old one): nothing is
 * cleared, the next pull starts from scratch with `reset` (which keeps what the outbox names).
 */
export async function adoptRecords(clientId: string): Promise<void> {
  await db.transaction('rw', db.meta, async () => {
    await db.meta.where('key').startsWith(STATE_PREFIX).delete();
    await db.meta.put({ key: OWNER_KEY, value: clientId });
  });
}

/** Forgets the synced scope (at logout: the next person on this phone must not read it). */
export async function forgetRecords(): Promise<void> {
  await db.transaction('rw', db.records, db.meta, async () => {
    await db.records.clear();
    await db.meta.where('key').startsWith(STATE_PREFIX).delete();
    await db.meta.delete(OWNER_KEY);
  });
}

/** The job a child record belongs to, indexed so a job's screen reads its steps, logs … directly. */
function jobIdOf(entity: string, data: Record<string, unknown> | undefined): string | undefined {
  if (entity === 'job' || !data) return undefined;
  return typeof data.job_id === 'string' ? data.job_id : undefined;
}

/** Record ids the outbox still names (entries not final yet). */
async function heldIds(): Promise<Set<string>> {
  const entries: OutboxEntry[] = await db.outbox.toArray();
  return new Set(entries.filter((entry) => !isFinal(entry)).flatMap((entry) => entry.refs));
}

/** Applies one page and saves the cursor after it, in one transaction. */
export async function applyPage(clientId: string, page: PullPage, now = Date.now()): Promise<void> {
  await db.transaction('rw', [db.records, db.meta, db.outbox], async () => {
    const held = await heldIds();
    if (page.reset) {
      // Replace the synced data: keep (pinned) only what the outbox still names.
      const kept = await db.records.filter((record) => held.has(record.id)).toArray();
      await db.records.clear();
      if (kept.length) await db.records.bulkPut(kept.map((record) => ({ ...record, pinned: 1 as const })));
    }
    const puts: SyncedRecord[] = [];
    for (const change of page.changes) {
      if (change.op === 'put' && change.data) {
        const record: SyncedRecord = {
          entity: change.entity,
          id: change.id,
          version: change.version ?? 0,
          data: change.data,
        };
        const jobId = jobIdOf(change.entity, change.data);
        if (jobId) record.jobId = jobId;
        puts.push(record);
      } else if (change.op === 'del') {
        // Later changes in the page win: flush the puts before a delete of the same record.
        if (puts.length) await db.records.bulkPut(puts.splice(0));
        if (held.has(change.id)) await db.records.update([change.entity, change.id], { pinned: 1 });
        else await db.records.delete([change.entity, change.id]);
      }
    }
    if (puts.length) await db.records.bulkPut(puts);
    const previous = await pullState(clientId);
    const state: PullState = {
      cursor: page.cursor,
      // A server that sends no checkpoint leaves the last known one (never back to "nothing reached").
      checkpoint: page.checkpoint ?? (page.reset ? null : previous.checkpoint),
      lastMutationId: page.last_mutation_id,
      lastPullAt: now,
      serverTime: page.server_time,
    };
    await db.meta.put({ key: STATE_PREFIX + clientId, value: state });
  });
}

/** Pinned records no entry names any more leave (their entries became final). */
export async function releasePinned(): Promise<number> {
  return db.transaction('rw', db.records, db.outbox, async () => {
    const held = await heldIds();
    const pinned = await db.records.where('pinned').equals(1).toArray();
    const free = pinned.filter((record) => !held.has(record.id));
    await db.records.bulkDelete(free.map((record) => [record.entity, record.id] as [string, string]));
    return free.length;
  });
}

export interface PullDeps {
  post(body: PullBody): Promise<PullPage>;
  device?(): Promise<DeviceReport | undefined>;
}

/** Pulls pages until the scope is up to date; returns the checkpoint reached. */
export async function pullAll(clientId: string, deps: PullDeps, onPage?: (count: number) => void): Promise<bigint | null> {
  let device = await deps.device?.().catch(() => undefined);
  let total = 0;
  for (let pages = 0; pages < 10_000; pages += 1) {
    const { cursor } = await pullState(clientId);
    const body: PullBody = { protocol: 1, client_id: clientId, cursor, limit: 1000 };
    if (device) body.device = device;
    device = undefined; // once per pull is enough
    const page = await deps.post(body);
    await applyPage(clientId, page);
    total += page.changes.length;
    onPage?.(total);
    if (!page.has_more) break;
  }
  await releasePinned();
  return pulledCheckpoint(clientId);
}
