import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxEntry, OutboxState } from '../db';
import {
  groupByDay,
  jobView,
  logViews,
  missingSteps,
  NEXT_STATUSES,
  OPEN_STATUSES,
  outOfRange,
  partViews,
  pendingConsumption,
  stepViews,
  type JobView,
  type StepSpec,
} from './overlay';
import { overlays } from '../sync/outbox';

const CLIENT = '0b6c2a8e-1111-4c1a-9d7e-000000000001';
const JOB = '5e0f0d4e-7a1b-4c2d-8e3f-00000000000a';
const JOB2 = '5e0f0d4e-7a1b-4c2d-8e3f-00000000000b';

let nextId = 0;
function entry(name: string, args: Record<string, unknown>, state: OutboxState = 'queued', extra: Partial<OutboxEntry> = {}): OutboxEntry {
  nextId += 1;
  return {
    seq: nextId,
    id: nextId,
    clientId: CLIENT,
    name,
    args,
    client_time: extra.client_time ?? `2026-11-24T08:${String(nextId % 60).padStart(2, '0')}:00Z`,
    state,
    jobId: typeof args.job_id === 'string' ? args.job_id : undefined,
    refs: [],
    blobs: [],
    createdAt: nextId,
    attempts: 0,
    ...extra,
  };
}
const all = () => true;
/** Node's environment (the app's tsconfig has no Node types); TZ is read on each Date call. */
const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;

const spec = (id: string, over: Partial<StepSpec> = {}): StepSpec => ({
  id,
  title: id,
  instructions: '',
  requires: [],
  reading_unit: '',
  reading_min: null,
  reading_max: null,
  key_moment: false,
  monitoring_point: false,
  mandatory: true,
  ...over,
});

describe('jobView', () => {
  const record = {
    id: JOB,
    version: 7,
    data: {
      number: 'J-0042',
      type: 'repair',
      status: 'en_route',
      description: 'No cooling',
      customer_id: 'c1',
      site_id: 's1',
      unit_id: null,
      scheduled_start: '2026-11-24T01:00:00Z',
      findings: 'old',
    },
  };

  it('reads the pulled record with defaults for missing fields', () => {
    const view = jobView(record, [], all);
    expect(view).toMatchObject({
      id: JOB,
      number: 'J-0042',
      type: 'repair',
      status: 'en_route',
      priority: 'normal',
      description: 'No cooling',
      customer_id: 'c1',
      site_id: 's1',
      unit_id: null,
      procedure_id: null,
      scheduled_start: '2026-11-24T01:00:00Z',
      scheduled_end: null,
      findings: 'old',
      arrival_note: '',
      status_reason: '',
      version: 7,
      pending: 0,
      pinned: false,
    });
    expect(jobView({ ...record, data: { status: 42, number: null } }, [], all)).toMatchObject({ status: '', number: '' });
  });

  it('applies this job’s pending transitions and updates in order, and counts the unanswered ones', () => {
    const entries = [
      entry('job.transition', { job_id: JOB, to: 'on_site' }, 'applied', { checkpoint: '5' }),
      entry('job.update', { job_id: JOB, base_version: 7, fields: { findings: 'compressor', arrival_note: 'gate locked' } }, 'sent'),
      entry('job.transition', { job_id: JOB, to: 'incomplete', reason: 'part missing' }, 'queued'),
      entry('job.transition', { job_id: JOB2, to: 'cancelled' }, 'queued'), // another job
      entry('job.log', { job_id: JOB, log_id: 'l1', kind: 'note', text: 'x' }, 'blocked'),
    ];
    const view = jobView(record, entries, all);
    expect(view).toMatchObject({ status: 'incomplete', status_reason: 'part missing', findings: 'compressor', arrival_note: 'gate locked' });
    expect(view.pending).toBe(3); // sent, queued and blocked of this job; the applied one is answered
    expect(record.data.status).toBe('en_route'); // the record itself is not changed
  });

  it('shows only what `overlays` lets through (a pulled checkpoint, a rejection)', () => {
    const entries = [
      entry('job.transition', { job_id: JOB, to: 'on_site' }, 'applied', { checkpoint: '5' }),
      entry('job.transition', { job_id: JOB, to: 'work_done' }, 'rejected', { checkpoint: '6' }),
    ];
    expect(jobView(record, entries, (e) => overlays(e, 4n)).status).toBe('on_site');
    expect(jobView(record, entries, (e) => overlays(e, 5n)).status).toBe('en_route'); // the pull brought it back
    expect(jobView(record, entries, (e) => overlays(e, null)).pending).toBe(0);
  });

  it('says when the record is only kept because the outbox names it', () => {
    expect(jobView({ ...record, pinned: 1 }, [], all).pinned).toBe(true);
  });
});

describe('stepViews and missingSteps', () => {
  const steps = [spec('s1'), spec('s2', { requires: ['reading'] }), spec('s3', { mandatory: false }), spec('s4')];

  it('lists every step of the procedure: pulled results, overridden by recorded ones, blanks for the rest', () => {
    const pulled = [
      { step_id: 's1', result: 'fail', value: null, note: 'leak', blobs: ['h1'] },
      { step_id: 's2', result: 'pass', value: 3.2, note: '' },
      { step_id: 'gone', result: 'pass' }, // not in this procedure version
    ];
    const entries = [
      entry('job.step', { job_id: JOB, step_id: 's1', result: 'pass', note: 'fixed', blobs: ['h2'] }, 'sent'),
      entry('job.step', { job_id: JOB, step_id: 's3', result: 'na' }, 'applied', { checkpoint: '9' }),
      entry('job.step', { job_id: JOB, step_id: 's4', result: 'pass' }, 'rejected'),
    ];
    const views = stepViews(steps, pulled, entries, (e) => overlays(e, null));
    expect(views).toEqual([
      { step_id: 's1', result: 'pass', value: null, note: 'fixed', blobs: ['h2'], pending: true },
      { step_id: 's2', result: 'pass', value: 3.2, note: '', blobs: [], pending: false },
      { step_id: 's3', result: 'na', value: null, note: '', blobs: [], pending: false }, // answered, not yet pulled
      { step_id: 's4', result: null, value: null, note: '', blobs: [], pending: false }, // rejected: not shown
    ]);
    expect(missingSteps(steps, views).map((s) => s.id)).toEqual(['s4']);
  });

  it('the later of two recorded results for a step wins', () => {
    const entries = [
      entry('job.step', { job_id: JOB, step_id: 's2', result: 'fail', value: 9 }),
      entry('job.step', { job_id: JOB, step_id: 's2', result: 'pass', value: 4 }),
    ];
    expect(stepViews(steps, [], entries, all)[1]).toMatchObject({ result: 'pass', value: 4, pending: true });
  });

  it('a non-mandatory step is never missing; an empty procedure misses nothing', () => {
    const views = stepViews(steps, [], [], all);
    expect(missingSteps(steps, views).map((s) => s.id)).toEqual(['s1', 's2', 's4']);
    expect(missingSteps([], [])).toEqual([]);
  });
});

describe('outOfRange', () => {
  it('uses inclusive limits', () => {
    const limits = { reading_min: 2, reading_max: 8.5 };
    expect(outOfRange(limits, 2)).toBe(false);
    expect(outOfRange(limits, 8.5)).toBe(false);
    expect(outOfRange(limits, 5)).toBe(false);
    expect(outOfRange(limits, 1.999)).toBe(true);
    expect(outOfRange(limits, 8.5001)).toBe(true);
    expect(outOfRange(limits, -3)).toBe(true);
  });

  it('checks only the limits there are, and no value is never out of range', () => {
    expect(outOfRange({ reading_min: 0, reading_max: null }, -0.1)).toBe(true);
    expect(outOfRange({ reading_min: 0, reading_max: null }, 1e9)).toBe(false);
    expect(outOfRange({ reading_min: null, reading_max: 0 }, 0)).toBe(false);
    expect(outOfRange({ reading_min: null, reading_max: 0 }, 0.1)).toBe(true);
    expect(outOfRange({ reading_min: null, reading_max: null }, -1e9)).toBe(false);
    expect(outOfRange({ reading_min: 2, reading_max: 8 }, null)).toBe(false);
  });
});

describe('logViews', () => {
  it('merges pulled and recorded logs by id, sorted by time; a pending edit of a pulled log shows, an answered one does not', () => {
    const pulled = [
      { id: 'l1', kind: 'time', text: 'travel', minutes: 30, client_time: '2026-11-24T08:30:00Z' },
      { id: 'l2', text: 'no kind', created_at: '2026-11-24T07:00:00Z' },
      { id: 'l3', kind: 'note', text: 'pulled text', client_time: '2026-11-24T09:00:00Z' },
    ];
    const entries = [
      entry('job.log', { job_id: JOB, log_id: 'l4', kind: 'reading', text: 'pressure', value: 3.4 }, 'queued', { client_time: '2026-11-24T08:00:00Z' }),
      entry('job.log', { job_id: JOB, log_id: 'l1', kind: 'time', text: 'travel', minutes: 30 }, 'applied', { client_time: '2026-11-24T08:30:00Z' }),
      entry('job.log', { job_id: JOB, log_id: 'l3', kind: 'note', text: 'local text' }, 'sent', { client_time: '2026-11-24T09:00:00Z' }),
      entry('job.log', { job_id: JOB, log_id: 'l5', kind: 'note', text: 'refused' }, 'rejected', { client_time: '2026-11-24T06:00:00Z' }),
    ];
    const views = logViews(pulled, entries, (e) => overlays(e, null));
    expect(views.map((v) => [v.id, v.kind, v.text, v.pending])).toEqual([
      ['l2', 'note', 'no kind', false],
      ['l4', 'reading', 'pressure', true],
      ['l1', 'time', 'travel', false],
      ['l3', 'note', 'local text', true],
    ]);
    expect(views.find((v) => v.id === 'l4')).toMatchObject({ value: 3.4, minutes: null, at: '2026-11-24T08:00:00Z' });
    expect(views.find((v) => v.id === 'l1')!.minutes).toBe(30);
  });
});

describe('partViews and pendingConsumption', () => {
  const entries = () => [
    entry('stock.consume', { move_id: 'm1', job_id: JOB, item_id: 'filter', qty: 2 }, 'queued'),
    entry('stock.consume', { move_id: 'm2', job_id: JOB, item_id: 'glove', qty: 1, size: 'L', asset_id: 'a1' }, 'applied', { checkpoint: '3' }),
    entry('stock.consume', { move_id: 'm3', job_id: JOB, item_id: 'filter', qty: 5 }, 'rejected'),
    entry('stock.consume', { move_id: 'm4', job_id: JOB2, item_id: 'filter', qty: 1 }, 'sent'),
    entry('spare.swap', { move_id: 'm5', job_id: JOB, unit_id: 'u1', spare_asset_id: 'a9', removed_serial: 'SN-1' }, 'blocked'),
    entry('job.log', { job_id: JOB, log_id: 'l1', kind: 'note', text: '' }),
    entry(
      'stock.consume',
      { move_id: 'm6', job_id: JOB, item_id: 'filter', qty: 7 },
      'duplicate',
      { checkpoint: '3', result: { id: 0, status: 'duplicate', result: { status: 'rejected', code: 'FORBIDDEN' } } },
    ),
  ];

  it('lists the job’s parts and swaps recorded on this phone, without rejected ones', () => {
    const parts = partViews(JOB, entries());
    expect(parts.map((p) => [p.move_id, p.item_id, p.qty, p.size, p.asset_id, p.pending])).toEqual([
      ['m1', 'filter', 2, '', null, true],
      ['m2', 'glove', 1, 'L', 'a1', false],
      ['m5', '', 1, '', null, true],
    ]);
    expect(parts[2]).toMatchObject({ spare_asset_id: 'a9', removed_serial: 'SN-1' });
  });

  it('sums the pending consumptions by item and size', () => {
    const sums = pendingConsumption(entries(), (e) => overlays(e, null));
    expect(Object.fromEntries(sums)).toEqual({ 'filter/': 3, 'glove/L': 1 });
    // Once the pull reached the applied one's checkpoint, the pulled balance has it: not counted twice.
    expect(Object.fromEntries(pendingConsumption(entries(), (e) => overlays(e, 3n)))).toEqual({ 'filter/': 3 });
  });
});

describe('statuses', () => {
  it('technician transitions follow the contract', () => {
    expect(NEXT_STATUSES.on_site).toEqual(['work_done', 'incomplete']);
    expect(NEXT_STATUSES.work_done).toBeUndefined(); // a sign-off moves it on, not a transition
    for (const from of Object.keys(NEXT_STATUSES)) expect(OPEN_STATUSES.has(from)).toBe(true);
    expect(OPEN_STATUSES.has('approved')).toBe(false);
  });
});

describe('groupByDay', () => {
  type J = Pick<JobView, 'scheduled_start' | 'scheduled_end' | 'complete_by' | 'status'> & { n: string };
  const job = (n: string, start: Date | null, end: Date | null = null): J => ({
    n,
    status: 'assigned',
    scheduled_start: start ? start.toISOString() : null,
    scheduled_end: end ? end.toISOString() : null,
    complete_by: null,
  });
  const names = (groups: { overdue: J[]; today: J[]; upcoming: J[] }) => ({
    overdue: groups.overdue.map((j) => j.n),
    today: groups.today.map((j) => j.n),
    upcoming: groups.upcoming.map((j) => j.n),
  });

  let savedTz: string | undefined;
  beforeAll(() => {
    savedTz = env.TZ;
    // The phone's local day, not UTC's: in Shanghai (UTC+8) local midnight is 16:00 UTC.
    env.TZ = 'Asia/Shanghai';
  });
  afterAll(() => {
    if (savedTz === undefined) delete env.TZ;
    else env.TZ = savedTz;
  });

  it('splits at local midnight, not UTC midnight', () => {
    const now = new Date('2026-11-23T16:30:00Z'); // 00:30 on the 24th in Shanghai
    expect(now.getDate()).toBe(24);
    const groups = groupByDay(
      [
        job('yesterday 23:59 local', new Date('2026-11-23T15:59:00Z')), // the 23rd locally, though the same UTC day as now
        job('today 00:00 local', new Date('2026-11-23T16:00:00Z')),
        job('today 23:59 local', new Date('2026-11-24T15:59:59Z')),
        job('tomorrow 00:00 local', new Date('2026-11-24T16:00:00Z')),
        job('unscheduled', null),
      ],
      now,
    );
    expect(names(groups)).toEqual({
      overdue: ['yesterday 23:59 local'],
      today: ['unscheduled', 'today 00:00 local', 'today 23:59 local'],
      upcoming: ['tomorrow 00:00 local'],
    });
  });

  it('moves a job across the boundary as the clock passes local midnight', () => {
    const lateJob = job('22:00', new Date(2026, 10, 24, 22, 0));
    const before = groupByDay([lateJob], new Date(2026, 10, 24, 23, 59, 59));
    const after = groupByDay([lateJob], new Date(2026, 10, 25, 0, 0, 0));
    expect(names(before).today).toEqual(['22:00']);
    expect(names(after).overdue).toEqual(['22:00']);
    const early = job('next 08:00', new Date(2026, 10, 25, 8, 0));
    expect(names(groupByDay([early], new Date(2026, 10, 24, 23, 59, 59))).upcoming).toEqual(['next 08:00']);
    expect(names(groupByDay([early], new Date(2026, 10, 25, 0, 0, 0))).today).toEqual(['next 08:00']);
  });

  it('a job that started before today but ends today (or later) is today’s, sorted by start', () => {
    const now = new Date(2026, 10, 24, 10, 0);
    const groups = groupByDay(
      [
        job('b: today 09:00', new Date(2026, 10, 24, 9, 0)),
        job('a: spans midnight', new Date(2026, 10, 23, 20, 0), new Date(2026, 10, 24, 0, 0)),
        job('c: ended yesterday', new Date(2026, 10, 22, 8, 0), new Date(2026, 10, 23, 23, 59, 59)),
      ],
      now,
    );
    expect(names(groups)).toEqual({ overdue: ['c: ended yesterday'], today: ['a: spans midnight', 'b: today 09:00'], upcoming: [] });
  });

  it('handles the day DST changes (no DST in Shanghai; a 23-hour day elsewhere)', () => {
    env.TZ = 'Europe/Berlin';
    try {
      // 2026-03-29: clocks go from 02:00 to 03:00, the day is 23 hours long.
      const now = new Date(2026, 2, 29, 12, 0);
      const groups = groupByDay(
        [job('today 23:30', new Date(2026, 2, 29, 23, 30)), job('tomorrow 00:00', new Date(2026, 2, 30, 0, 0)), job('yesterday', new Date(2026, 2, 28, 23, 59))],
        now,
      );
      expect(names(groups)).toEqual({ overdue: ['yesterday'], today: ['today 23:30'], upcoming: ['tomorrow 00:00'] });
    } finally {
      env.TZ = 'Asia/Shanghai';
    }
  });
});
