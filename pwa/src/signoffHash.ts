/**
 * What the customer sees before signing (the summary), and the phone's own hash of it with the answers
 * and the signature (SYNC.md 1.1 `client_hash`): the server recomputes the same hash over the same
 * canonical form (docs/SYNC.md) and shows whether they match.
 */
import type { JobDetail } from './data/queries';
import type { MessageKey, Params } from './i18n';
import { sha256Hex } from './sync/blobs';
import { formatLimits } from './ui/format';

export interface SummaryStep {
  step_id: string;
  title: string;
  result: 'pass' | 'fail' | 'na';
  value: number | null;
  unit: string;
  limits: string;
}

export interface CustomerSummary {
  job: { id: string; number: string; type: string; type_label: string; site: string; unit: string; description: string };
  steps: SummaryStep[];
  parts: { item_id: string; name: string; qty: number; size: string }[];
  technician: string;
  time_on_site_minutes: number | null;
}

export interface SignoffAnswers {
  signer_name: string;
  accepted: boolean;
  rating: number;
  rating_technical: number | null;
  rating_service: number | null;
  comment: string;
  signed_at: string;
  signature_blob: string;
}

/** The job as the customer reads it: recorded steps with their results and readings, parts (no prices), time on site. */
export function buildSummary(
  detail: JobDetail,
  itemNames: Map<string, string>,
  technician: string,
  locale: string,
  tr: (key: MessageKey, params?: Params) => string,
): CustomerSummary {
  const specs = detail.procedure?.steps ?? [];
  const steps: SummaryStep[] = [];
  specs.forEach((spec, index) => {
    const view = detail.steps[index];
    if (!view?.result) return;
    steps.push({
      step_id: spec.id,
      title: spec.title,
      result: view.result,
      value: view.value,
      unit: spec.reading_unit,
      limits: spec.requires.includes('reading') ? formatLimits(spec.reading_min, spec.reading_max, spec.reading_unit, locale) : '',
    });
  });
  const parts = new Map<string, { item_id: string; name: string; qty: number; size: string }>();
  for (const part of detail.parts) {
    if (!part.item_id) continue;
    const key = `${part.item_id}/${part.size}`;
    const line = parts.get(key) ?? { item_id: part.item_id, name: itemNames.get(part.item_id) ?? '', qty: 0, size: part.size };
    line.qty += part.qty;
    parts.set(key, line);
  }
  const arrived = timeOf(detail, 'arrived_at', 'on_site');
  const finished = timeOf(detail, 'work_done_at', 'work_done');
  const typeKey = `job.type.${detail.job.type}` as MessageKey;
  return {
    job: {
      id: detail.job.id,
      number: detail.job.number,
      type: detail.job.type,
      type_label: tr(typeKey) === typeKey ? detail.job.type : tr(typeKey),
      site: String(detail.site?.name ?? ''),
      unit: [detail.unit?.model, detail.unit?.serial].filter(Boolean).join(' · '),
      description: detail.job.description,
    },
    steps,
    parts: [...parts.values()],
    technician,
    time_on_site_minutes: arrived !== null && finished !== null && finished >= arrived ? Math.round((finished - arrived) / 60000) : null,
  };
}

/** When the job reached a status: the pulled record's time, else the phone's own transition. */
function timeOf(detail: JobDetail, field: string, status: string): number | null {
  const pulled = detail.job.data[field];
  if (typeof pulled === 'string') return Date.parse(pulled);
  const entry = [...detail.entries].reverse().find((e) => e.name === 'job.transition' && e.args.to === status);
  return entry ? Date.parse(entry.client_time) : null;
}

// --- The canonical form (docs/SYNC.md, "The customer summary's canonical form"; the server's copy is
// backend/jobs/signoff_canonical.py, and a test feeds the server's form to this one). ------------------

const SUMMARY_FORMAT = 1;
/** Whitespace trimmed from both ends of every string: Python's str.isspace() and JavaScript's trim() together. */
const TRIM =
  '\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';
const TRIM_RE = new RegExp(`^[${TRIM}]+|[${TRIM}]+$`, 'gu');

const JOB_FIELDS = ['id', 'number', 'type', 'customer_id', 'site_id', 'unit_id', 'procedure_id', 'description', 'findings', 'arrival_note', 'departure_note', 'meter_reading'];
const STEP_FIELDS = ['step_id', 'result', 'value', 'note', 'blobs'];
const LOG_FIELDS = ['id', 'kind', 'text', 'minutes', 'value'];
const ATTACHMENT_FIELDS = ['id', 'blob', 'step_id', 'caption'];
const PART_FIELDS = ['move_id', 'item_id', 'asset_id', 'size', 'qty'];
const ANSWER_FIELDS = ['signer_name', 'accepted', 'rating', 'rating_technical', 'rating_service', 'comment', 'signed_at', 'signature_blob'];

type Row = Record<string, unknown>;
type Canon = null | boolean | number | string | Canon[] | { [key: string]: Canon };

export function canonicalText(value: string): string {
  return value.replace(TRIM_RE, '').normalize('NFC');
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function canonValue(name: string, value: unknown): Canon {
  if (value === undefined || value === null) return null;
  if (typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value === 'string') return name === 'signed_at' ? new Date(value).toISOString() : canonicalText(value);
  if (Array.isArray(value)) return value.map((v) => canonValue(name, v) as string).sort(byCodePoint);
  throw new TypeError(`${name} has no canonical form`);
}

function canonObject(row: Row, fields: string[]): { [key: string]: Canon } {
  return Object.fromEntries(fields.map((name) => [name, canonValue(name, row[name])]));
}

/** JSON.stringify with keys sorted at every level and no spaces. */
export function canonicalJson(node: Canon): string {
  if (node === null || typeof node !== 'object') return JSON.stringify(node);
  if (Array.isArray(node)) return `[${node.map(canonicalJson).join(',')}]`;
  return `{${Object.keys(node)
    .sort(byCodePoint)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(node[key])}`)
    .join(',')}}`;
}

export interface SummaryRows {
  job: Row;
  steps: Row[];
  logs: Row[];
  attachments: Row[];
  parts: Row[];
  answers: Row;
}

export function canonicalSummary(rows: SummaryRows): string {
  const sortBy = (key: string) => (a: { [k: string]: Canon }, b: { [k: string]: Canon }) => byCodePoint(String(a[key]), String(b[key]));
  const steps = rows.steps.map((s) => canonObject(s, STEP_FIELDS));
  // A step's photo is in the step's blobs; the server also makes an attachment of it (with an id a phone
  // cannot know offline): left out, whoever made it.
  const stepPhotos = new Set(steps.flatMap((s) => (s.blobs as string[]).map((blob) => `${String(s.step_id)}\u0000${blob}`)));
  const attachments = rows.attachments
    .map((a) => canonObject(a, ATTACHMENT_FIELDS))
    .filter((a) => !stepPhotos.has(`${String(a.step_id)}\u0000${String(a.blob)}`));
  return canonicalJson({
    format: SUMMARY_FORMAT,
    job: canonObject(rows.job, JOB_FIELDS),
    steps: steps.sort(sortBy('step_id')),
    logs: rows.logs.map((g) => canonObject(g, LOG_FIELDS)).sort(sortBy('id')),
    attachments: attachments.sort(sortBy('id')),
    parts: rows.parts.map((p) => canonObject(p, PART_FIELDS)).sort(sortBy('move_id')),
    answers: canonObject(rows.answers, ANSWER_FIELDS),
  });
}

/** The SHA-256 (hex) of a text's UTF-8 bytes, by the same function that names photos. */
export function sha256HexOf(text: string): Promise<string> {
  return sha256Hex(new TextEncoder().encode(text).buffer as ArrayBuffer);
}

/**
 * The rows the phone showed, as the canonical form takes them: the job as pulled with the phone's edits,
 * the steps and logs as the phone has them, the attachments pulled and attached on this phone, and the
 * parts this phone recorded (`stock.consume`; a `spare.swap` as its spare's item and asset, qty 1).
 */
export function summaryRows(detail: JobDetail, answers: SignoffAnswers, spareItems: Map<string, string> = new Map()): SummaryRows {
  return {
    job: { ...detail.job.data, id: detail.job.id },
    steps: detail.steps.filter((step) => step.result !== null).map((step) => ({ ...step })),
    logs: detail.logs.map((log) => ({ id: log.id, kind: log.kind, text: log.text, minutes: log.minutes, value: log.value })),
    attachments: detail.attachments.map((a) => ({ id: a.id, blob: a.blob, step_id: a.step_id, caption: a.caption })),
    parts: detail.parts.map((part) =>
      part.spare_asset_id
        ? { move_id: part.move_id, item_id: spareItems.get(part.spare_asset_id) ?? null, asset_id: part.spare_asset_id, size: '', qty: 1 }
        : { move_id: part.move_id, item_id: part.item_id, asset_id: part.asset_id, size: part.size, qty: part.qty },
    ),
    answers: { ...answers },
  };
}

/** The phone's `client_hash`: SHA-256 (hex) of the canonical form's UTF-8 bytes. */
export async function signoffHash(detail: JobDetail, answers: SignoffAnswers, spareItems?: Map<string, string>): Promise<string> {
  return sha256HexOf(canonicalSummary(summaryRows(detail, answers, spareItems)));
}
