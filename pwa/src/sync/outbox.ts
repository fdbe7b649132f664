/**
 * The outbox: the one owner of `db.outbox`. What the phone recorded, in order, until the server has
 * answered for it and a pull has brought its effects back (docs/SYNC.md, Push; "What a client must
 * do"). An entry never expires; logging out, a reset pull or an app update never clear it.
 *
 * `enqueue` numbers a mutation per client (1, 2, 3, … no gaps) in the same Dexie transaction that
 * stores it; the screens show its effect at once from the entry itself (data/overlay.ts). `push`
 * sends the entries in id order in batches and records each result.
 */
import Dexie from 'dexie';
import { db, type MutationResult, type OutboxEntry, type OutboxState } from '../db';

export const MAX_BATCH = 100;
/** The server takes 4 MiB per push; leave room for the envelope and the device report. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;

export const FINAL_STATES: ReadonlySet<OutboxState> = new Set(['applied', 'merged', 'rejected', 'duplicate']);

const COUNTER_PREFIX = 'mutation-counter:';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256_RE = /^[0-9a-f]{64}$/;

export interface PushBody {
  protocol: 1;
  client_id: string;
  mutations: { id: number; name: string; client_time: string; args: Record<string, unknown> }[];
  device?: DeviceReport;
}

export interface PushResponse {
  last_mutation_id: number;
  write_checkpoint: string;
  results: MutationResult[];
}

export interface DeviceReport {
  app_version: string;
  outbox_pending: number;
  oldest_pending_at: string | null;
  blobs_pending: number;
  storage_used?: number;
  storage_quota?: number;
  persisted?: boolean | null;
}

/** What `push` needs from the outside world (the network and the blob queue), so tests can supply it. */
export interface PushDeps {
  post(body: PushBody): Promise<PushResponse>;
  /** Uploads these blobs if they are not on the server yet; throws when it cannot (offline). */
  ensureUploaded(sha256s: string[], force?: boolean): Promise<void>;
  device?(): Promise<DeviceReport | undefined>;
}

/** The push answered with a gap the phone cannot fill: the server is behind entries the phone dropped. */
export class OutboxGapError extends Error {
  override readonly name = 'OutboxGapError';
}

type Listener = () => void;
const listeners = new Set<Listener>();

/** Called after every local write (the engine debounces a sync on it). */
export function onEnqueue(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export interface EnqueueOptions {
  now?: Date;
  /** Words that name the entry's subject after its records are gone (e.g. the job's number). */
  label?: string;
  /** More writes that must commit with the entry (e.g. a draft photo joining its step). */
  alsoInTransaction?: () => Promise<void>;
}

/** Records a mutation: the next id for this client, the entry, in one transaction. */
export async function enqueue(
  clientId: string,
  name: string,
  args: Record<string, unknown>,
  options: EnqueueOptions = {},
): Promise<OutboxEntry> {
  const now = options.now ?? new Date();
  const entry = await db.transaction('rw', [db.outbox, db.meta, db.blobs, db.records], async () => {
    const id = (await lastId(clientId)) + 1;
    const created: OutboxEntry = {
      id,
      clientId,
      name,
      args,
      client_time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      state: 'queued',
      jobId: typeof args.job_id === 'string' ? args.job_id : undefined,
      refs: refsOf(args),
      blobs: blobsOf(args),
      createdAt: now.getTime(),
      attempts: 0,
    };
    if (options.label) created.label = options.label;
    created.seq = await db.outbox.add(created);
    await db.meta.put({ key: COUNTER_PREFIX + clientId, value: id });
    await options.alsoInTransaction?.();
    return created;
  });
  for (const listener of [...listeners]) listener();
  return entry;
}

/** The highest id ever given to this client (the counter, or the outbox if the counter is behind). */
async function lastId(clientId: string): Promise<number> {
  const counter = (await db.meta.get(COUNTER_PREFIX + clientId))?.value;
  const newest = await db.outbox
    .where('[clientId+id]')
    .between([clientId, Dexie.minKey], [clientId, Dexie.maxKey])
    .last();
  return Math.max(typeof counter === 'number' ? counter : 0, newest?.id ?? 0);
}

/** Every UUID the args name, at any depth: the records this entry keeps readable. */
export function refsOf(args: unknown, found: string[] = []): string[] {
  if (typeof args === 'string') {
    if (UUID_RE.test(args) && !found.includes(args)) found.push(args);
  } else if (Array.isArray(args)) {
    for (const value of args) refsOf(value, found);
  } else if (args && typeof args === 'object') {
    for (const value of Object.values(args)) refsOf(value, found);
  }
  return found;
}

/** The blobs a mutation names (`blob`, `blobs`, `signature_blob`). */
export function blobsOf(args: Record<string, unknown>): string[] {
  const out: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === 'string' && SHA256_RE.test(value) && !out.includes(value)) out.push(value);
  };
  add(args.blob);
  add(args.signature_blob);
  if (Array.isArray(args.blobs)) args.blobs.forEach(add);
  return out;
}

export function isFinal(entry: Pick<OutboxEntry, 'state'>): boolean {
  return FINAL_STATES.has(entry.state);
}

/** The status that counts for the technician: a duplicate's stored one. */
export function effectiveStatus(entry: OutboxEntry): OutboxState {
  if (entry.state === 'duplicate' && entry.result?.result?.status) {
    return entry.result.result.status as OutboxState;
  }
  return entry.state;
}

/** Rejected, or applied with a note (merged), and not yet seen by the technician. */
export function needsAttention(entry: OutboxEntry): boolean {
  const status = effectiveStatus(entry);
  return (status === 'rejected' || status === 'merged') && entry.seen !== 1;
}

/** Whether the entry's effect is still to be shown on top of the pulled records. */
export function overlays(entry: OutboxEntry, pulledCheckpoint: bigint | null): boolean {
  if (effectiveStatus(entry) === 'rejected') return false;
  if (!isFinal(entry)) return true;
  return !reached(entry, pulledCheckpoint);
}

function reached(entry: OutboxEntry, pulledCheckpoint: bigint | null): boolean {
  return entry.checkpoint !== undefined && pulledCheckpoint !== null && BigInt(entry.checkpoint) <= pulledCheckpoint;
}

/** This client's entries in id order. */
export function entriesOf(clientId: string): Promise<OutboxEntry[]> {
  return db.outbox.where('[clientId+id]').between([clientId, Dexie.minKey], [clientId, Dexie.maxKey]).toArray();
}

export async function pendingEntries(clientId: string): Promise<OutboxEntry[]> {
  return (await entriesOf(clientId)).filter((entry) => !isFinal(entry));
}

function wire(entry: OutboxEntry) {
  return { id: entry.id, name: entry.name, client_time: entry.client_time, args: entry.args };
}

/** The next batch: in id order, at most MAX_BATCH mutations and MAX_BATCH_BYTES of JSON (always at least one). */
export function nextBatch(pending: OutboxEntry[]): OutboxEntry[] {
  const batch: OutboxEntry[] = [];
  let bytes = 0;
  for (const entry of pending) {
    const size = new TextEncoder().encode(JSON.stringify(wire(entry))).length;
    if (batch.length > 0 && (batch.length >= MAX_BATCH || bytes + size > MAX_BATCH_BYTES)) break;
    batch.push(entry);
    bytes += size;
  }
  return batch;
}

export interface PushSummary {
  pushed: number;
  checkpoint: string | null;
}

/**
 * Sends every pending entry of the client, batch after batch, and records each answer. A `blocked`
 * answer uploads the named blob and pushes again from that id. Throws on a transport error (the
 * entries stay as they were, `sent` ones are sent again next time and come back `duplicate`).
 */
export async function push(clientId: string, deps: PushDeps): Promise<PushSummary> {
  let pushed = 0;
  let checkpoint: string | null = null;
  // Forced uploads per blob: a blob that stays missing after a few is a real problem; several different
  // blobs the server lost are not (each one is fixed by its own upload).
  const blockedRounds = new Map<string, number>();
  for (;;) {
    const pending = await pendingEntries(clientId);
    if (pending.length === 0) return { pushed, checkpoint };
    const batch = nextBatch(pending);
    const blobs = [...new Set(batch.flatMap((entry) => entry.blobs))];
    if (blobs.length) await deps.ensureUploaded(blobs);
    await db.transaction('rw', db.outbox, async () => {
      for (const entry of batch) {
        await db.outbox.update(entry.seq!, { state: 'sent', attempts: entry.attempts + 1 });
      }
    });
    const device = await deps.device?.().catch(() => undefined);
    const body: PushBody = { protocol: 1, client_id: clientId, mutations: batch.map(wire) };
    if (device) body.device = device;
    const response = await deps.post(body);
    checkpoint = response.write_checkpoint;
    const blocked = await recordResults(batch, response);
    pushed += response.results.filter((r) => r.status !== 'blocked').length;
    if (blocked) {
      // The server is missing a blob this phone holds (or lost it): upload it again, then push from there.
      const rounds = (blockedRounds.get(blocked) ?? 0) + 1;
      blockedRounds.set(blocked, rounds);
      if (rounds > 3) throw new Error(`blob ${blocked} is still missing after uploading it`);
      await deps.ensureUploaded([blocked], true);
      continue;
    }
    const stuck = response.results.find((r) => r.status === 'blocked');
    if (stuck) {
      // Blocked for a reason this phone cannot fix by uploading: stop here (pushing again now would only
      // loop); the entries stay pending for the next sync.
      throw new Error(`mutation ${stuck.id} is blocked: ${stuck.code ?? 'BLOCKED'} ${stuck.message ?? ''}`.trim());
    }
    if (response.results.length === 0) {
      throw new OutboxGapError(
        `the server is at mutation ${response.last_mutation_id}; this phone's next is ${batch[0].id}`,
      );
    }
  }
}

/** Stores each result on its entry; returns the blob a `blocked` result names, if any. */
async function recordResults(batch: OutboxEntry[], response: PushResponse): Promise<string | null> {
  const byId = new Map(response.results.map((result) => [result.id, result]));
  let blocked: string | null = null;
  await db.transaction('rw', db.outbox, async () => {
    for (const entry of batch) {
      const result = byId.get(entry.id);
      if (!result) {
        // Not processed in this push (after a blocked one): it goes again.
        await db.outbox.update(entry.seq!, { state: 'queued' });
        continue;
      }
      if (result.status === 'blocked') {
        blocked = result.blob ?? null;
        await db.outbox.update(entry.seq!, { state: 'blocked', result });
        continue;
      }
      const change: Partial<OutboxEntry> = {
        state: result.status,
        result,
        checkpoint: response.write_checkpoint,
      };
      if (needsAttention({ ...entry, ...change } as OutboxEntry)) change.seen = 0;
      await db.outbox.update(entry.seq!, change);
    }
  });
  return blocked;
}

/**
 * After a pull reached `pulledCheckpoint`: entries that are final and whose effects the pulled records
 * now hold leave the outbox, except those still waiting to be seen in "Needs attention".
 */
export async function dropSettled(clientId: string, pulledCheckpoint: bigint): Promise<number> {
  return db.transaction('rw', db.outbox, async () => {
    const settled = (await entriesOf(clientId)).filter(
      (entry) => isFinal(entry) && reached(entry, pulledCheckpoint) && !needsAttention(entry),
    );
    await db.outbox.bulkDelete(settled.map((entry) => entry.seq!));
    return settled.length;
  });
}

/** The technician has read a rejected or merged entry's note. */
export async function markSeen(seq: number): Promise<void> {
  await db.outbox.update(seq, { seen: 1 });
}

/**
 * The server does not know this client (409 CLIENT_UNKNOWN): the entries not yet answered move to a
 * new client id, numbered again from 1 in their order. The record ids in their args keep a replay safe.
 */
export async function moveToNewClient(oldClientId: string, newClientId: string): Promise<void> {
  await db.transaction('rw', db.outbox, db.meta, async () => {
    const pending = await pendingEntries(oldClientId);
    let id = 0;
    for (const entry of pending) {
      id += 1;
      await db.outbox.update(entry.seq!, { clientId: newClientId, id, state: 'queued' });
    }
    await db.meta.put({ key: COUNTER_PREFIX + newClientId, value: id });
  });
}
