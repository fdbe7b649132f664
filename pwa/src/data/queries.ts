/**
 * Typed reads the screens use: IndexedDB only (never the network), the local overlay applied.
 * Each is meant for `useLive` (Dexie liveQuery), so a write or a pull re-renders what it touched.
 */
import { db, type BlobRecord, type OutboxEntry, type SyncedRecord } from '../db';
import { JOB_PARTS_PREFIX, type LocalPart } from './actions';
import { entriesOf, isFinal, needsAttention, overlays } from '../sync/outbox';
import { pulledCheckpoint } from '../sync/pull';
import {
  jobView,
  logViews,
  OPEN_STATUSES,
  partViews,
  pendingConsumption,
  stepViews,
  type Data,
  type JobView,
  type LogView,
  type PartView,
  type StepSpec,
  type StepView,
} from './overlay';

export interface JobCard {
  job: JobView;
  customer: string;
  site: string;
  unit: string;
}

async function overlayContext(clientId: string) {
  const [entries, checkpoint] = await Promise.all([entriesOf(clientId), pulledCheckpoint(clientId)]);
  return { entries, isOverlay: (entry: OutboxEntry) => overlays(entry, checkpoint) };
}

function nameOf(record: SyncedRecord | undefined): string {
  return record ? String(record.data.name ?? record.data.model ?? '') : '';
}

async function byIds(entity: string, ids: (string | null)[]): Promise<Map<string, SyncedRecord>> {
  const wanted = [...new Set(ids.filter((id): id is string => !!id))];
  const rows = await db.records.bulkGet(wanted.map((id) => [entity, id] as [string, string]));
  return new Map(rows.filter((row): row is SyncedRecord => !!row).map((row) => [row.id, row]));
}

/** The technician's open jobs (and the ones the outbox keeps pinned), for Today. */
export async function openJobs(clientId: string, userId: string): Promise<JobCard[]> {
  const [records, { entries, isOverlay }] = await Promise.all([
    db.records.where('entity').equals('job').toArray(),
    overlayContext(clientId),
  ]);
  const jobs = records
    .map((record) => jobView(record, entries, isOverlay))
    .filter((job) => job.pinned || (job.assignee_id === userId && OPEN_STATUSES.has(job.status)));
  const [customers, sites, units] = await Promise.all([
    byIds('customer', jobs.map((job) => job.customer_id)),
    byIds('site', jobs.map((job) => job.site_id)),
    byIds('unit', jobs.map((job) => job.unit_id)),
  ]);
  return jobs.map((job) => ({
    job,
    customer: nameOf(customers.get(job.customer_id ?? '')),
    site: nameOf(sites.get(job.site_id ?? '')),
    unit: unitLabel(units.get(job.unit_id ?? '')),
  }));
}

function unitLabel(record: SyncedRecord | undefined): string {
  if (!record) return '';
  return [record.data.model, record.data.serial].filter(Boolean).join(' · ');
}

export interface AttachmentView {
  id: string;
  blob: string;
  step_id: string | null;
  caption: string;
  thumbnail_url: string | null;
  pending: boolean;
}

export interface JobDetail {
  job: JobView;
  customer: Data | null;
  site: Data | null;
  unit: Data | null;
  procedure: { name: string; steps: StepSpec[] } | null;
  steps: StepView[];
  logs: LogView[];
  parts: PartView[];
  attachments: AttachmentView[];
  signoff: Data | null;
  approval: Data | null;
  /** Other jobs on the same unit, newest first (its history). */
  unitHistory: JobView[];
  /** Photos on this phone, by sha256: thumbnails for the screens and upload state. */
  localBlobs: Map<string, BlobRecord>;
  entries: OutboxEntry[];
}

/**
 * A job with everything its screens show. `unitHistory` (every job on the same unit) costs a scan of the
 * jobs: only the Job screen asks for it, so a step recorded on the Procedure screen shows at once.
 */
export async function jobDetail(clientId: string, jobId: string, options: { unitHistory?: boolean } = {}): Promise<JobDetail | null> {
  const record = await db.records.get(['job', jobId]);
  if (!record) return null;
  const { entries, isOverlay } = await overlayContext(clientId);
  const job = jobView(record, entries, isOverlay);
  const [customer, site, unit, procedure, children, localBlobs] = await Promise.all([
    job.customer_id ? db.records.get(['customer', job.customer_id]) : undefined,
    job.site_id ? db.records.get(['site', job.site_id]) : undefined,
    job.unit_id ? db.records.get(['unit', job.unit_id]) : undefined,
    job.procedure_id ? db.records.get(['procedure', job.procedure_id]) : undefined,
    db.records.where('[entity+jobId]').anyOf(
      ['job_step', jobId],
      ['job_log', jobId],
      ['attachment', jobId],
      ['signoff', jobId],
      ['approval', jobId],
    ).toArray(),
    db.blobs.where('jobId').equals(jobId).toArray(),
  ]);
  const localParts = ((await db.meta.get(JOB_PARTS_PREFIX + jobId))?.value as LocalPart[] | undefined) ?? [];
  const jobEntries = entries.filter((entry) => entry.jobId === jobId);
  const of = (entity: string) => children.filter((row) => row.entity === entity).map((row) => row.data);
  const specs = procedure ? ((procedure.data.steps as StepSpec[] | undefined) ?? []) : [];
  const steps = stepViews(specs, of('job_step'), jobEntries, isOverlay);
  const attachments: AttachmentView[] = of('attachment').map((row) => ({
    id: String(row.id),
    blob: String(row.blob),
    step_id: (row.step_id as string | null) ?? null,
    caption: String(row.caption ?? ''),
    thumbnail_url: (row.thumbnail_url as string | null) ?? null,
    pending: false,
  }));
  const known = new Set(attachments.map((a) => `${a.step_id ?? ''}/${a.blob}`));
  for (const entry of jobEntries) {
    if (!isOverlay(entry)) continue;
    if (entry.name === 'job.attach') {
      const key = `${String(entry.args.step_id ?? '')}/${String(entry.args.blob)}`;
      if (known.has(key)) continue;
      known.add(key);
      attachments.push({
        id: String(entry.args.attachment_id),
        blob: String(entry.args.blob),
        step_id: (entry.args.step_id as string | undefined) ?? null,
        caption: String(entry.args.caption ?? ''),
        thumbnail_url: null,
        pending: true,
      });
    }
  }
  let unitHistory: JobView[] = [];
  if (job.unit_id && options.unitHistory) {
    const others = await db.records
      .where('entity')
      .equals('job')
      .filter((row) => row.id !== jobId && row.data.unit_id === job.unit_id)
      .toArray();
    unitHistory = others
      .map((row) => jobView(row, entries, isOverlay))
      .sort((a, b) => (b.scheduled_start ?? '').localeCompare(a.scheduled_start ?? ''));
  }
  return {
    job,
    customer: customer?.data ?? null,
    site: site?.data ?? null,
    unit: unit?.data ?? null,
    procedure: procedure ? { name: String(procedure.data.name ?? ''), steps: specs } : null,
    steps,
    logs: logViews(of('job_log'), jobEntries, isOverlay),
    parts: mergeParts(partViews(jobId, jobEntries), localParts, jobEntries),
    attachments,
    signoff: of('signoff')[0] ?? null,
    approval: of('approval')[0] ?? null,
    unitHistory,
    localBlobs: new Map(localBlobs.map((blob) => [blob.sha256, blob])),
    entries: jobEntries,
  };
}

export interface StockLine {
  item_id: string;
  sku: string;
  name: string;
  kind: string;
  unit: string;
  tracking: string;
  size: string;
  location_id: string;
  location_kind: string;
  qty: number;
}

export interface HeldAsset {
  id: string;
  item_id: string;
  serial: string;
  name: string;
  kind: string;
  location_id: string;
  status: string;
}

export interface MyStock {
  /** The technician's own locations: the van first, then the person. */
  locations: { id: string; kind: string; name: string }[];
  lines: StockLine[];
  assets: HeldAsset[];
}

/** What the technician can use on a job: quantities in their van and on them (pending use deducted), and serialized units held. */
export async function myStock(clientId: string, userId: string): Promise<MyStock> {
  const locations = (await db.records.where('entity').equals('location').toArray())
    .filter((row) => row.data.user_id === userId && (row.data.kind === 'vehicle' || row.data.kind === 'person'))
    .sort((a, b) => (a.data.kind === 'vehicle' ? -1 : 1) - (b.data.kind === 'vehicle' ? -1 : 1));
  const mine = new Set(locations.map((row) => row.id));
  const [balances, assets, items, { entries, isOverlay }] = await Promise.all([
    db.records.where('entity').equals('balance').filter((row) => mine.has(String(row.data.location_id))).toArray(),
    db.records.where('entity').equals('asset').filter((row) => mine.has(String(row.data.location_id)) || row.data.holder_id === userId).toArray(),
    db.records.where('entity').equals('item').toArray(),
    overlayContext(clientId),
  ]);
  const itemById = new Map(items.map((row) => [row.id, row.data]));
  const used = pendingConsumption(entries, isOverlay);
  const kindOf = new Map(locations.map((row) => [row.id, String(row.data.kind)]));
  const lines: StockLine[] = balances.map((row) => {
    const item = itemById.get(String(row.data.item_id)) ?? {};
    return {
      item_id: String(row.data.item_id),
      sku: String(item.sku ?? ''),
      name: String(item.name ?? ''),
      kind: String(item.kind ?? ''),
      unit: String(item.unit ?? ''),
      tracking: String(item.tracking ?? 'quantity'),
      size: String(row.data.size ?? ''),
      location_id: String(row.data.location_id),
      location_kind: kindOf.get(String(row.data.location_id)) ?? '',
      qty: Number(row.data.qty ?? 0),
    };
  });
  // Pending use comes off the van first, then the person (as the server defaults `from_location_id`).
  for (const [key, qty] of used) {
    let left = qty;
    for (const line of lines) {
      if (left <= 0) break;
      if (`${line.item_id}/${line.size}` !== key) continue;
      const take = Math.min(line.qty, left);
      line.qty -= take;
      left -= take;
    }
  }
  return {
    locations: locations.map((row) => ({ id: row.id, kind: String(row.data.kind), name: String(row.data.name ?? '') })),
    lines: lines.sort((a, b) => a.name.localeCompare(b.name)),
    assets: assets.map((row) => {
      const item = itemById.get(String(row.data.item_id)) ?? {};
      return {
        id: row.id,
        item_id: String(row.data.item_id),
        serial: String(row.data.serial ?? ''),
        name: String(item.name ?? ''),
        kind: String(item.kind ?? ''),
        location_id: String(row.data.location_id ?? ''),
        status: String(row.data.status ?? ''),
      };
    }),
  };
}

export async function itemNames(): Promise<Map<string, string>> {
  const items = await db.records.where('entity').equals('item').toArray();
  return new Map(items.map((row) => [row.id, String(row.data.name ?? row.data.sku ?? '')]));
}

/** Every outbox entry of this client, newest first, with the blobs still on the phone. */
export async function outboxView(clientId: string): Promise<{ entries: OutboxEntry[]; blobs: BlobRecord[] }> {
  const [entries, blobs] = await Promise.all([
    entriesOf(clientId),
    db.blobs.where('clientId').equals(clientId).toArray(),
  ]);
  return { entries: entries.reverse(), blobs: blobs.filter((blob) => blob.state !== 'uploaded' || blob.kept) };
}

export async function pendingCount(clientId: string): Promise<{ pending: number; attention: number }> {
  const entries = await entriesOf(clientId);
  return {
    pending: entries.filter((entry) => !isFinal(entry)).length,
    attention: entries.filter((entry) => needsAttention(entry)).length,
  };
}

/** Parts of the outbox (pending) and those this phone recorded before (synced since), once each; a rejected one is left out. */
function mergeParts(pending: PartView[], local: LocalPart[], entries: OutboxEntry[]): PartView[] {
  const rejected = new Set(entries.filter((e) => e.state === 'rejected' || e.result?.result?.status === 'rejected').map((e) => String(e.args.move_id)));
  const out = new Map(pending.map((part) => [part.move_id, part]));
  for (const part of local) {
    if (out.has(part.move_id) || rejected.has(part.move_id)) continue;
    out.set(part.move_id, { ...part, pending: false });
  }
  return [...out.values()].sort((a, b) => a.at.localeCompare(b.at));
}

// --- Custody: what I hold, the depot's stock, hand-overs, colleagues ------------------------------------

export interface CustodyAssetLine {
  id: string;
  item_id: string;
  name: string;
  kind: string;
  serial: string;
  location_id: string;
  parent_asset_id: string | null;
  due_at: string | null;
  service_kind: string;
  return_due_at: string | null;
  overdue: boolean;
  /** A custody mutation about it waits to sync (return, hand-over, check-out). */
  pending: string | null;
}

export interface CustodyQtyLine {
  item_id: string;
  name: string;
  kind: string;
  unit: string;
  size: string;
  qty: number;
  location_id: string;
}

export interface HandoverView {
  id: string;
  from_user: string;
  to_user: string;
  what: string;
  qty: number;
  size: string;
  note: string;
  status: string;
  recorded_at: string;
  /** The phone's answer waits to sync. */
  answered: string | null;
}

export interface CustodyView {
  me: { person: string | null; vehicle: string | null };
  assets: CustodyAssetLine[];
  stock: CustodyQtyLine[];
  incoming: HandoverView[];
  outgoing: HandoverView[];
  depots: { id: string; kind: string; name: string }[];
  depotAssets: CustodyAssetLine[];
  depotStock: CustodyQtyLine[];
  colleagues: { id: string; name: string }[];
}

const CUSTODY_MUTATIONS = new Set(['custody.checkout', 'custody.return', 'custody.transfer', 'custody.accept', 'custody.decline']);

export async function custodyView(clientId: string, userId: string, teamId: string | null, now = Date.now()): Promise<CustodyView> {
  const [locations, assets, balances, items, handovers, users, { entries, isOverlay }] = await Promise.all([
    db.records.where('entity').equals('location').toArray(),
    db.records.where('entity').equals('asset').toArray(),
    db.records.where('entity').equals('balance').toArray(),
    db.records.where('entity').equals('item').toArray(),
    db.records.where('entity').equals('handover').toArray(),
    db.records.where('entity').equals('user').toArray(),
    overlayContext(clientId),
  ]);
  const itemById = new Map(items.map((row) => [row.id, row.data]));
  const userName = new Map(users.map((row) => [row.id, String(row.data.display_name ?? row.data.username ?? '')]));
  const mine = locations.filter((row) => row.data.user_id === userId && (row.data.kind === 'person' || row.data.kind === 'vehicle'));
  const mineIds = new Set(mine.map((row) => row.id));
  const depots = locations.filter((row) => row.data.kind === 'depot' || row.data.kind === 'repair');
  const depotIds = new Set(depots.map((row) => row.id));
  const pendingAbout = new Map<string, string>();
  for (const entry of entries) {
    if (!CUSTODY_MUTATIONS.has(entry.name) || !isOverlay(entry)) continue;
    for (const ref of entry.refs) pendingAbout.set(ref, entry.name);
  }
  const assetLine = (row: SyncedRecord): CustodyAssetLine => {
    const item = itemById.get(String(row.data.item_id)) ?? {};
    const due = typeof row.data.due_at === 'string' ? row.data.due_at : null;
    const returnDue = typeof row.data.return_due_at === 'string' ? row.data.return_due_at : null;
    return {
      id: row.id,
      item_id: String(row.data.item_id),
      name: String(item.name ?? ''),
      kind: String(item.kind ?? ''),
      serial: String(row.data.serial ?? ''),
      location_id: String(row.data.location_id ?? ''),
      parent_asset_id: (row.data.parent_asset_id as string | null) ?? null,
      due_at: due,
      service_kind: String(item.service_kind ?? 'maintenance'),
      return_due_at: returnDue,
      overdue: (due !== null && Date.parse(due) < now) || (returnDue !== null && Date.parse(returnDue) < now),
      pending: pendingAbout.get(row.id) ?? null,
    };
  };
  const qtyLine = (row: SyncedRecord): CustodyQtyLine => {
    const item = itemById.get(String(row.data.item_id)) ?? {};
    return {
      item_id: String(row.data.item_id),
      name: String(item.name ?? ''),
      kind: String(item.kind ?? ''),
      unit: String(item.unit ?? ''),
      size: String(row.data.size ?? ''),
      qty: Number(row.data.qty ?? 0),
      location_id: String(row.data.location_id),
    };
  };
  const serialItems = new Set(items.filter((row) => row.data.tracking === 'serial').map((row) => row.id));
  const handover = (row: SyncedRecord): HandoverView => {
    const asset = row.data.asset_id ? assets.find((a) => a.id === row.data.asset_id) : undefined;
    const item = itemById.get(String(asset?.data.item_id ?? row.data.item_id)) ?? {};
    const answer = entries.find(
      (e) => (e.name === 'custody.accept' || e.name === 'custody.decline') && e.args.handover_id === row.id && e.state !== 'rejected',
    );
    return {
      id: row.id,
      from_user: userName.get(String(row.data.from_user_id)) ?? '',
      to_user: userName.get(String(row.data.to_user_id)) ?? '',
      what: [item.name, asset?.data.serial].filter(Boolean).join(' · '),
      qty: Number(row.data.qty ?? 1),
      size: String(row.data.size ?? ''),
      note: String(row.data.note ?? ''),
      status: String(row.data.status ?? ''),
      recorded_at: String(row.data.recorded_at ?? row.data.created_at ?? ''),
      answered: answer ? answer.name : null,
    };
  };
  return {
    me: {
      person: mine.find((row) => row.data.kind === 'person')?.id ?? null,
      vehicle: mine.find((row) => row.data.kind === 'vehicle')?.id ?? null,
    },
    assets: assets.filter((row) => mineIds.has(String(row.data.location_id)) || row.data.holder_id === userId).map(assetLine),
    stock: balances
      .filter((row) => mineIds.has(String(row.data.location_id)) && Number(row.data.qty) > 0 && !serialItems.has(String(row.data.item_id)))
      .map(qtyLine),
    incoming: handovers.filter((row) => row.data.to_user_id === userId && row.data.status === 'pending').map(handover),
    outgoing: handovers.filter((row) => row.data.from_user_id === userId && row.data.status === 'pending').map(handover),
    depots: depots.map((row) => ({ id: row.id, kind: String(row.data.kind), name: String(row.data.name ?? '') })),
    depotAssets: assets
      .filter((row) => depotIds.has(String(row.data.location_id)) && row.data.status !== 'in_repair' && !row.data.holder_id)
      .map(assetLine),
    depotStock: balances
      .filter((row) => depotIds.has(String(row.data.location_id)) && Number(row.data.qty) > 0 && !serialItems.has(String(row.data.item_id)))
      .map(qtyLine),
    colleagues: users
      .filter((row) => row.id !== userId && teamId !== null && row.data.team_id === teamId && row.data.role === 'technician')
      .map((row) => ({ id: row.id, name: String(row.data.display_name ?? row.data.username ?? '') })),
  };
}

/** The job's sign-off, pulled or recorded on this phone and not refused: `null` while nobody has signed. */
export function signoffOf(detail: Pick<JobDetail, 'signoff' | 'entries'>): { accepted: boolean } | null {
  const pending = detail.entries.find((entry) => entry.name === 'job.signoff' && entry.state !== 'rejected');
  if (pending) return { accepted: pending.args.accepted === true };
  return detail.signoff ? { accepted: detail.signoff.accepted === true } : null;
}
