/**
 * The local overlay: what the technician recorded and the pull has not brought back yet, shown on top
 * of the pulled records. Pure functions of (records, outbox entries), so the screens and the tests see
 * the same thing; the overlay for an entry goes once a pull reached its write checkpoint (outbox.ts).
 */
import type { OutboxEntry } from '../db';

export type Data = Record<string, unknown>;

export interface JobView {
  id: string;
  number: string;
  type: string;
  status: string;
  priority: string;
  description: string;
  customer_id: string | null;
  site_id: string | null;
  unit_id: string | null;
  procedure_id: string | null;
  assignee_id: string | null;
  scheduled_start: string | null;
  scheduled_end: string | null;
  complete_by: string | null;
  findings: string;
  arrival_note: string;
  departure_note: string;
  status_reason: string;
  version: number;
  data: Data;
  /** Entries about this job the server has not answered yet. */
  pending: number;
  /** Kept only because the outbox names it (the pull deleted it: reassigned, out of scope). */
  pinned: boolean;
}

export interface StepSpec {
  id: string;
  title: string;
  instructions: string;
  requires: string[];
  reading_unit: string;
  reading_min: number | null;
  reading_max: number | null;
  key_moment: boolean;
  monitoring_point: boolean;
  mandatory: boolean;
}

export interface StepView {
  step_id: string;
  result: 'pass' | 'fail' | 'na' | null;
  value: number | null;
  note: string;
  blobs: string[];
  pending: boolean;
}

export interface LogView {
  id: string;
  kind: 'note' | 'time' | 'reading';
  text: string;
  minutes: number | null;
  value: number | null;
  at: string;
  pending: boolean;
}

export interface PartView {
  move_id: string;
  item_id: string;
  qty: number;
  size: string;
  asset_id: string | null;
  spare_asset_id?: string;
  removed_serial?: string;
  at: string;
  pending: boolean;
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const strOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** The job as the phone should show it: the pulled record with its pending transitions and edits. */
export function jobView(
  record: { id: string; version: number; data: Data; pinned?: 1 },
  entries: OutboxEntry[],
  overlays: (entry: OutboxEntry) => boolean,
): JobView {
  const data: Data = { ...record.data };
  let pending = 0;
  for (const entry of entries) {
    if (entry.jobId !== record.id || !overlays(entry)) continue;
    if (entry.state === 'queued' || entry.state === 'sent' || entry.state === 'blocked') pending += 1;
    if (entry.name === 'job.transition') {
      data.status = entry.args.to;
      if (entry.args.reason) data.status_reason = entry.args.reason;
    } else if (entry.name === 'job.update') {
      Object.assign(data, entry.args.fields as Data);
    }
  }
  return {
    id: record.id,
    number: str(data.number),
    type: str(data.type),
    status: str(data.status),
    priority: str(data.priority) || 'normal',
    description: str(data.description),
    customer_id: strOrNull(data.customer_id),
    site_id: strOrNull(data.site_id),
    unit_id: strOrNull(data.unit_id),
    procedure_id: strOrNull(data.procedure_id),
    assignee_id: strOrNull(data.assignee_id),
    scheduled_start: strOrNull(data.scheduled_start),
    scheduled_end: strOrNull(data.scheduled_end),
    complete_by: strOrNull(data.complete_by),
    findings: str(data.findings),
    arrival_note: str(data.arrival_note),
    departure_note: str(data.departure_note),
    status_reason: str(data.status_reason),
    version: record.version,
    data,
    pending,
    pinned: record.pinned === 1,
  };
}

const isPendingState = (entry: OutboxEntry) => entry.state === 'queued' || entry.state === 'sent' || entry.state === 'blocked';

/** Each step of the procedure with its pulled result, overridden by a pending `job.step`. */
export function stepViews(steps: StepSpec[], pulled: Data[], entries: OutboxEntry[], overlays: (e: OutboxEntry) => boolean): StepView[] {
  const byStep = new Map<string, StepView>();
  for (const row of pulled) {
    const stepId = str(row.step_id);
    byStep.set(stepId, {
      step_id: stepId,
      result: (strOrNull(row.result) as StepView['result']) ?? null,
      value: num(row.value),
      note: str(row.note),
      blobs: Array.isArray(row.blobs) ? (row.blobs as string[]) : [],
      pending: false,
    });
  }
  for (const entry of entries) {
    if (entry.name !== 'job.step' || !overlays(entry)) continue;
    const stepId = str(entry.args.step_id);
    byStep.set(stepId, {
      step_id: stepId,
      result: entry.args.result as StepView['result'],
      value: num(entry.args.value),
      note: str(entry.args.note),
      blobs: Array.isArray(entry.args.blobs) ? (entry.args.blobs as string[]) : [],
      pending: isPendingState(entry),
    });
  }
  return steps.map(
    (spec) => byStep.get(spec.id) ?? { step_id: spec.id, result: null, value: null, note: '', blobs: [], pending: false },
  );
}

/** The steps that must have a result before the work can be marked done (the server's STEP_INCOMPLETE). */
export function missingSteps(steps: StepSpec[], views: StepView[]): StepSpec[] {
  const done = new Set(views.filter((view) => view.result !== null).map((view) => view.step_id));
  return steps.filter((spec) => spec.mandatory && !done.has(spec.id));
}

/** A reading outside the step's limits (limits inclusive, as the server checks them). */
export function outOfRange(spec: Pick<StepSpec, 'reading_min' | 'reading_max'>, value: number | null): boolean {
  if (value === null) return false;
  return (spec.reading_min !== null && value < spec.reading_min) || (spec.reading_max !== null && value > spec.reading_max);
}

export function logViews(pulled: Data[], entries: OutboxEntry[], overlays: (e: OutboxEntry) => boolean): LogView[] {
  const out = new Map<string, LogView>();
  for (const row of pulled) {
    out.set(str(row.id), {
      id: str(row.id),
      kind: (str(row.kind) || 'note') as LogView['kind'],
      text: str(row.text),
      minutes: num(row.minutes),
      value: num(row.value),
      at: str(row.client_time) || str(row.created_at),
      pending: false,
    });
  }
  for (const entry of entries) {
    if (entry.name !== 'job.log' || !overlays(entry)) continue;
    const id = str(entry.args.log_id);
    if (out.has(id) && !isPendingState(entry)) continue;
    out.set(id, {
      id,
      kind: entry.args.kind as LogView['kind'],
      text: str(entry.args.text),
      minutes: num(entry.args.minutes),
      value: num(entry.args.value),
      at: entry.client_time,
      pending: isPendingState(entry),
    });
  }
  return [...out.values()].sort((a, b) => a.at.localeCompare(b.at));
}

/** Parts recorded on this phone for the job (the pulled scope has no movement records). */
export function partViews(jobId: string, entries: OutboxEntry[]): PartView[] {
  const out: PartView[] = [];
  for (const entry of entries) {
    // Rejected, or a duplicate whose stored result was a rejection: nothing was consumed.
    if (entry.jobId !== jobId || entry.state === 'rejected' || entry.result?.result?.status === 'rejected') continue;
    if (entry.name === 'stock.consume') {
      out.push({
        move_id: str(entry.args.move_id),
        item_id: str(entry.args.item_id),
        qty: num(entry.args.qty) ?? 0,
        size: str(entry.args.size),
        asset_id: strOrNull(entry.args.asset_id),
        at: entry.client_time,
        pending: isPendingState(entry),
      });
    } else if (entry.name === 'spare.swap') {
      out.push({
        move_id: str(entry.args.move_id),
        item_id: '',
        qty: 1,
        size: '',
        asset_id: null,
        spare_asset_id: str(entry.args.spare_asset_id),
        removed_serial: str(entry.args.removed_serial),
        at: entry.client_time,
        pending: isPendingState(entry),
      });
    }
  }
  return out;
}

/** Quantity of each (item, size) the technician's pending consumptions take from a location. */
export function pendingConsumption(entries: OutboxEntry[], overlays: (e: OutboxEntry) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of entries) {
    if (entry.name !== 'stock.consume' || !overlays(entry)) continue;
    const key = `${str(entry.args.item_id)}/${str(entry.args.size)}`;
    out.set(key, (out.get(key) ?? 0) + (num(entry.args.qty) ?? 0));
  }
  return out;
}

/** Technician transitions by current status (docs/SYNC.md, Jobs). */
export const NEXT_STATUSES: Record<string, string[]> = {
  assigned: ['accepted'],
  accepted: ['en_route'],
  en_route: ['on_site'],
  on_site: ['work_done', 'incomplete'],
  returned: ['awaiting_approval'],
};

/** Statuses a technician still has work in. */
export const OPEN_STATUSES = new Set(['assigned', 'accepted', 'en_route', 'on_site', 'work_done', 'incomplete', 'returned']);

export interface DayGroups<T> {
  overdue: T[];
  today: T[];
  upcoming: T[];
}

/**
 * Splits open jobs into overdue (should have been finished before today began), today's (local day of
 * the phone) and the next days; each by scheduled start. Jobs with no schedule count as today's.
 */
export function groupByDay<T extends Pick<JobView, 'scheduled_start' | 'scheduled_end' | 'complete_by' | 'status'>>(
  jobs: T[],
  now: Date,
): DayGroups<T> {
  const startOfDay = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const endOfDay = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1).getTime();
  const groups: DayGroups<T> = { overdue: [], today: [], upcoming: [] };
  const sorted = [...jobs].sort((a, b) => (a.scheduled_start ?? '').localeCompare(b.scheduled_start ?? ''));
  for (const job of sorted) {
    const start = job.scheduled_start ? Date.parse(job.scheduled_start) : null;
    const end = job.scheduled_end ? Date.parse(job.scheduled_end) : start;
    if (start === null) groups.today.push(job);
    else if (start >= endOfDay) groups.upcoming.push(job);
    else if (start >= startOfDay || (end !== null && end >= startOfDay)) groups.today.push(job);
    else groups.overdue.push(job);
  }
  return groups;
}
