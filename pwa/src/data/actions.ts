/**
 * What the technician records, as outbox mutations (docs/SYNC.md catalog). Each is one `enqueue`: the
 * entry and its local effect commit together, the screen shows it at once, the engine syncs it later.
 * Record ids are made here, so a replay never creates a second record.
 */
import { db, newUuid, type OutboxEntry } from '../db';
import { addBlob, commitDrafts } from '../sync/blobs';
import { enqueue } from '../sync/outbox';
import type { JobView, StepSpec } from './overlay';

/** A part used on a job, as this phone recorded it (kept after it synced). */
export interface LocalPart {
  move_id: string;
  item_id: string;
  asset_id: string | null;
  size: string;
  qty: number;
  at: string;
  spare_asset_id?: string;
  removed_serial?: string;
}

export const JOB_PARTS_PREFIX = 'job-parts:';

export interface Geo {
  lat: number;
  lon: number;
  accuracy_m: number;
}

export function transitionJob(clientId: string, job: JobView, to: string, extra: { reason?: string; geo?: Geo | null } = {}): Promise<OutboxEntry> {
  const args: Record<string, unknown> = { job_id: job.id, to };
  if (extra.reason) args.reason = extra.reason;
  if (extra.geo) args.geo = extra.geo;
  return enqueue(clientId, 'job.transition', args, { label: job.number });
}

/** A step's result, with the draft photos taken for it joining it in the same transaction. */
export function recordStep(
  clientId: string,
  job: JobView,
  spec: StepSpec,
  result: 'pass' | 'fail' | 'na',
  input: { value: number | null; note: string; blobs: string[]; drafts: string[] },
): Promise<OutboxEntry> {
  const blobs = [...new Set([...input.blobs, ...input.drafts])];
  const args: Record<string, unknown> = { job_id: job.id, step_id: spec.id, result, note: input.note.trim(), blobs };
  if (input.value !== null) args.value = input.value;
  return enqueue(clientId, 'job.step', args, {
    label: job.number,
    alsoInTransaction: () => commitDrafts(input.drafts),
  });
}

export function logWork(
  clientId: string,
  job: JobView,
  entry: { kind: 'note' | 'time' | 'reading'; text: string; minutes?: number | null; value?: number | null },
): Promise<OutboxEntry> {
  const args: Record<string, unknown> = { log_id: newUuid(), job_id: job.id, kind: entry.kind, text: entry.text.trim() };
  if (entry.minutes) args.minutes = entry.minutes;
  if (entry.value !== undefined && entry.value !== null) args.value = entry.value;
  return enqueue(clientId, 'job.log', args, { label: job.number });
}

export function consumePart(
  clientId: string,
  job: JobView,
  part: { item_id: string; qty: number; size: string; from_location_id?: string; asset_id?: string },
): Promise<OutboxEntry> {
  const args: Record<string, unknown> = { move_id: newUuid(), job_id: job.id, item_id: part.item_id, qty: part.qty };
  if (part.size) args.size = part.size;
  if (part.from_location_id) args.from_location_id = part.from_location_id;
  if (part.asset_id) args.asset_id = part.asset_id;
  // The pulled scope has no ledger lines: the job's parts stay known on this phone after they sync
  // (the customer's summary and its hash list them).
  const line: LocalPart = { move_id: String(args.move_id), item_id: part.item_id, asset_id: part.asset_id ?? null, size: part.size, qty: part.qty, at: new Date().toISOString() };
  return enqueue(clientId, 'stock.consume', args, {
    label: job.number,
    alsoInTransaction: () => rememberPart(job.id, line),
  });
}

export function swapSpare(clientId: string, job: JobView, spareAssetId: string, removedSerial: string): Promise<OutboxEntry> {
  const args = { move_id: newUuid(), job_id: job.id, unit_id: job.unit_id, spare_asset_id: spareAssetId, removed_serial: removedSerial.trim() };
  const line: LocalPart = { move_id: args.move_id, item_id: '', asset_id: null, size: '', qty: 1, at: new Date().toISOString(), spare_asset_id: spareAssetId, removed_serial: args.removed_serial };
  return enqueue(clientId, 'spare.swap', args, { label: job.number, alsoInTransaction: () => rememberPart(job.id, line) });
}

async function rememberPart(jobId: string, line: LocalPart): Promise<void> {
  const key = JOB_PARTS_PREFIX + jobId;
  const known = ((await db.meta.get(key))?.value as LocalPart[] | undefined) ?? [];
  await db.meta.put({ key, value: [...known, line] });
}

/** The technician's own fields of the job, against the version the phone holds (three-way merge on the server). */
export function updateJobFields(clientId: string, job: JobView, fields: Record<string, string>): Promise<OutboxEntry> {
  return enqueue(clientId, 'job.update', { job_id: job.id, base_version: job.version, fields }, { label: job.number });
}

/** The phone's position for "on site", if it can tell within a few seconds (never blocks the transition). */
export function currentGeo(timeoutMs = 6000): Promise<Geo | null> {
  if (typeof navigator === 'undefined' || !navigator.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs + 500);
    navigator.geolocation.getCurrentPosition(
      (position) => {
        clearTimeout(timer);
        resolve({
          lat: Math.round(position.coords.latitude * 1e6) / 1e6,
          lon: Math.round(position.coords.longitude * 1e6) / 1e6,
          accuracy_m: Math.min(100000, Math.round(position.coords.accuracy)),
        });
      },
      () => {
        clearTimeout(timer);
        resolve(null);
      },
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 60_000 },
    );
  });
}

// --- Custody (facts: the server accepts them and raises an exception when they contradict it) ----------

export type CustodyThing = { asset_id: string } | { item_id: string; qty: number; size?: string };

function custodyArgs(thing: CustodyThing): Record<string, unknown> {
  if ('asset_id' in thing) return { asset_id: thing.asset_id };
  const args: Record<string, unknown> = { item_id: thing.item_id, qty: thing.qty };
  if (thing.size) args.size = thing.size;
  return args;
}

export function checkOut(clientId: string, thing: CustodyThing, fromLocationId: string, toVehicle = false): Promise<OutboxEntry> {
  const args: Record<string, unknown> = { move_id: newUuid(), ...custodyArgs(thing), from_location_id: fromLocationId };
  if (toVehicle) args.to_vehicle = true;
  return enqueue(clientId, 'custody.checkout', args);
}

export async function returnCustody(
  clientId: string,
  thing: CustodyThing,
  toLocationId: string,
  condition: 'ok' | 'damaged' | 'lost',
  evidence: { note?: string; photos?: Blob[] } = {},
): Promise<OutboxEntry> {
  const args: Record<string, unknown> = { move_id: newUuid(), ...custodyArgs(thing), to_location_id: toLocationId, condition };
  if (condition !== 'ok') {
    // The note and photos travel with a damaged or lost return (the exception it raises keeps them).
    const blobs: string[] = [];
    for (const photo of evidence.photos ?? []) {
      blobs.push((await addBlob(await photo.arrayBuffer(), photo.type, { clientId })).sha256);
    }
    if (evidence.note?.trim()) args.note = evidence.note.trim();
    if (blobs.length) args.blobs = blobs;
  }
  return enqueue(clientId, 'custody.return', args);
}

export function handOver(clientId: string, thing: CustodyThing, toUserId: string, note = ''): Promise<OutboxEntry> {
  const args: Record<string, unknown> = { move_id: newUuid(), ...custodyArgs(thing), to_user_id: toUserId };
  if (note.trim()) args.note = note.trim();
  return enqueue(clientId, 'custody.transfer', args);
}

export function answerHandover(clientId: string, handoverId: string, answer: { accept: true; toVehicle: boolean } | { accept: false; reason: string }): Promise<OutboxEntry> {
  if (answer.accept) {
    const args: Record<string, unknown> = { move_id: newUuid(), handover_id: handoverId };
    if (answer.toVehicle) args.to_vehicle = true;
    return enqueue(clientId, 'custody.accept', args);
  }
  const args: Record<string, unknown> = { move_id: newUuid(), handover_id: handoverId };
  if (answer.reason.trim()) args.reason = answer.reason.trim();
  return enqueue(clientId, 'custody.decline', args);
}
