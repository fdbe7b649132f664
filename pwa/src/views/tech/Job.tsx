/** One job: what is to be done, where, the unit and its history, the status actions allowed now, the job's record. */
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { currentGeo, transitionJob } from '../../data/actions';
import { useLive } from '../../data/live';
import { missingSteps, NEXT_STATUSES } from '../../data/overlay';
import { jobDetail, signoffOf, type JobDetail } from '../../data/queries';
import { localeStore, t } from '../../i18n';
import { useStore } from '../../store';
import { formatDateTime, formatNumber } from '../../ui/format';
import { enterCustomerMode } from '../../customerMode';
import { db, newUuid } from '../../db';
import { enqueue } from '../../sync/outbox';
import { Stars } from '../../ui/Stars';
import { hasPin, setPin, validPin } from '../../pin';
import { priorityLabel, statusLabel } from './Today';

/** The technician's own rating of the job before leaving the site (SYNC.md 1.1 `job.self_assess`), once per job. */
function SelfAssessment({ detail, clientId }: { detail: JobDetail; clientId: string }) {
  const key = `self-assessed:${detail.job.id}`;
  const done = useLive(() => db.meta.get(key).then((row) => !!row), [key]);
  const [overall, setOverall] = useState<number | null>(null);
  const [technical, setTechnical] = useState<number | null>(null);
  const [service, setService] = useState<number | null>(null);
  const [comment, setComment] = useState('');
  if (!['on_site', 'work_done'].includes(detail.job.status) || done === undefined) return null;
  if (done) {
    return (
      <p class="notice notice-ok" data-testid="self-assessed">
        {t('self.saved')}
      </p>
    );
  }
  const save = () => {
    if (overall === null) return;
    const args: Record<string, unknown> = { assessment_id: newUuid(), job_id: detail.job.id, overall, comment: comment.trim() };
    if (technical !== null) args.technical = technical;
    if (service !== null) args.service = service;
    void enqueue(clientId, 'job.self_assess', args, {
      label: detail.job.number,
      alsoInTransaction: () => db.meta.put({ key, value: Date.now() }).then(() => undefined),
    });
  };
  const stars = (n: number) => t('cust.stars', { n });
  return (
    <section class="card form" data-testid="self-assessment">
      <h2>{t('self.title')}</h2>
      <Stars testId="self-overall" label={t('self.overall')} hint={t('self.overallHint')} value={overall} onChange={setOverall} starLabel={stars} />
      <Stars testId="self-technical" label={t('self.technical')} hint="" value={technical} onChange={setTechnical} starLabel={stars} />
      <Stars testId="self-service" label={t('self.service')} hint="" value={service} onChange={setService} starLabel={stars} />
      <label class="field">
        <span class="field-label">{t('self.comment')}</span>
        <textarea rows={2} maxLength={2000} value={comment} onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)} />
      </label>
      <button type="button" class="btn btn-secondary btn-block" data-testid="self-save" disabled={overall === null} onClick={save}>
        {t('self.save')}
      </button>
    </section>
  );
}

/** Work done and not signed yet: the phone goes to the customer (customer mode), behind the technician's PIN. */
function HandToCustomer({ detail, username }: { detail: JobDetail; username: string }) {
  const pinKnown = useLive(() => hasPin(username), [username]);
  const [pin, setPinText] = useState('');
  const [again, setAgain] = useState('');
  const [asking, setAsking] = useState(false);
  const [wrong, setWrong] = useState(false);
  const signing = signoffOf(detail) !== null;
  if (detail.job.status !== 'work_done' || signing || pinKnown === undefined) return null;
  const start = () => void enterCustomerMode(detail.job.id, username);
  if (asking && !pinKnown) {
    return (
      <form
        class="card form"
        data-testid="pin-setup"
        onSubmit={(event) => {
          event.preventDefault();
          if (!validPin(pin) || pin !== again) return setWrong(true);
          void setPin(username, pin).then(start);
        }}
      >
        <p>{t('job.setPinFirst')}</p>
        <label class="field">
          <span class="field-label">{t('job.pin')}</span>
          <input type="password" inputMode="numeric" autoComplete="new-password" maxLength={8} data-testid="pin-new" value={pin} onInput={(e) => setPinText((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field">
          <span class="field-label">{t('job.pinAgain')}</span>
          <input type="password" inputMode="numeric" autoComplete="new-password" maxLength={8} data-testid="pin-again" value={again} onInput={(e) => setAgain((e.target as HTMLInputElement).value)} />
        </label>
        {wrong && <p class="form-error" role="alert">{t('job.pinMismatch')}</p>}
        <button type="submit" class="btn btn-primary btn-block" data-testid="pin-save">
          {t('job.pinSave')}
        </button>
      </form>
    );
  }
  return (
    <section class="card">
      <button type="button" class="btn btn-primary btn-block" data-testid="hand-to-customer" onClick={() => (pinKnown ? start() : setAsking(true))}>
        {t('job.handToCustomer')}
      </button>
    </section>
  );
}

interface Contact {
  name?: string;
  role?: string;
  phone?: string;
}

function MapLink({ lat, lon }: { lat: unknown; lon: unknown }) {
  if (typeof lat !== 'number' || typeof lon !== 'number') return null;
  return (
    <a class="btn btn-secondary" href={`geo:${lat},${lon}?q=${lat},${lon}`} data-testid="map-link">
      {t('job.openMap')}
    </a>
  );
}

function Actions({ detail, clientId }: { detail: JobDetail; clientId: string }) {
  const { job } = detail;
  const [reason, setReason] = useState('');
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const next = NEXT_STATUSES[job.status] ?? [];
  const missing = detail.procedure ? missingSteps(detail.procedure.steps, detail.steps) : [];
  if (next.length === 0) return null;

  const go = async (to: string) => {
    if (to === 'incomplete' && !asking) {
      setAsking(true);
      return;
    }
    setBusy(true);
    try {
      // The position is evidence of arrival; it is asked for and never waited on for long.
      const geo = to === 'on_site' || to === 'work_done' ? await currentGeo(4000) : null;
      await transitionJob(clientId, job, to, { reason: to === 'incomplete' ? reason.trim() : undefined, geo });
      setAsking(false);
      setReason('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card actions" data-testid="job-actions">
      {next.map((to) => {
        const blocked = to === 'work_done' && missing.length > 0;
        if (to === 'incomplete' && asking) {
          return (
            <form
              key={to}
              class="form"
              onSubmit={(event) => {
                event.preventDefault();
                if (reason.trim()) void go(to);
              }}
            >
              <label class="field">
                <span class="field-label">{t('job.incompleteReason')}</span>
                <textarea
                  data-testid="incomplete-reason"
                  required
                  maxLength={2000}
                  value={reason}
                  onInput={(event) => setReason((event.target as HTMLTextAreaElement).value)}
                />
              </label>
              <div class="row">
                <button type="button" class="btn btn-secondary" onClick={() => setAsking(false)}>
                  {t('common.cancel')}
                </button>
                <button type="submit" class="btn btn-danger" data-testid="confirm-incomplete" disabled={busy || !reason.trim()}>
                  {t('job.action.incomplete')}
                </button>
              </div>
            </form>
          );
        }
        return (
          <div key={to} class="action">
            <button
              type="button"
              class={`btn btn-block ${to === 'incomplete' ? 'btn-secondary' : 'btn-primary'}`}
              data-testid={`action-${to}`}
              disabled={busy || blocked}
              onClick={() => void go(to)}
            >
              {t(`job.action.${to}` as 'job.action.accepted')}
            </button>
            {blocked && (
              <p class="hint" data-testid="work-done-blocked">
                {t('job.stepsMissing', { count: missing.length })}{' '}
                <a class="btn btn-secondary" href={`/jobs/${job.id}/steps`}>
                  {t('job.openProcedure')}
                </a>
              </p>
            )}
          </div>
        );
      })}
    </section>
  );
}

export function JobScreen({ clientId, id, username }: { clientId: string; id: string; username: string }) {
  const locale = useStore(localeStore);
  const detail = useLive(() => jobDetail(clientId, id, { unitHistory: true }), [clientId, id]);
  const { route } = useLocation();
  if (detail === undefined) return <section data-testid="job" data-state="loading" />;
  if (detail === null) {
    return (
      <section class="card" data-testid="job" data-state="missing">
        <p>{t('job.notOnPhone')}</p>
        <button type="button" class="btn btn-primary" onClick={() => route('/')}>
          {t('nav.today')}
        </button>
      </section>
    );
  }
  const { job, customer, site, unit } = detail;
  const done = detail.steps.filter((step) => step.result !== null).length;
  const total = detail.procedure?.steps.length ?? 0;
  const contacts = (Array.isArray(customer?.contacts) ? customer.contacts : []) as Contact[];
  return (
    <section data-testid="job" data-state="ready" data-status={job.status} data-job-id={job.id}>
      <div class="screen-head">
        <a href="/" class="back" aria-label={t('nav.back')}>
          ‹
        </a>
        <h1 class="screen-title">{job.number}</h1>
        <span class={`status-chip status-${job.status}`} data-testid="job-status">
          {statusLabel(job.status)}
        </span>
      </div>
      {job.pinned && (
        <p class="notice notice-danger" data-testid="job-pinned">
          {t('job.pinnedNotice')}
        </p>
      )}
      {job.pending > 0 && (
        <p class="notice" data-testid="job-pending-notice">
          {t('job.pendingNotice', { count: job.pending })}
        </p>
      )}
      <section class="card">
        <p class="job-desc-big">{job.description}</p>
        <p class="muted">
          {t(`job.type.${job.type}` as 'job.type.repair')} · {priorityLabel(job.priority)}
          {job.scheduled_start && ` · ${formatDateTime(job.scheduled_start, locale)}`}
        </p>
        {job.status_reason && <p class="notice">{job.status_reason}</p>}
      </section>

      <HandToCustomer detail={detail} username={username} />
      <SelfAssessment detail={detail} clientId={clientId} />

      <nav class="card job-links">
        <a class="btn btn-secondary btn-block" href={`/jobs/${job.id}/steps`} data-testid="open-procedure">
          {t('job.procedure')} {total > 0 && <span class="count">{t('job.stepsDone', { done, total })}</span>}
        </a>
        <a class="btn btn-secondary btn-block" href={`/jobs/${job.id}/parts`} data-testid="open-parts">
          {t('job.partsAndTime')}
        </a>
        <a class="btn btn-secondary btn-block" href={`/jobs/${job.id}/report`} data-testid="open-report">
          {t('job.report')}
        </a>
      </nav>

      <section class="card">
        <h2>{t('job.customer')}</h2>
        <p class="strong">{String(customer?.name ?? '')}</p>
        {site && (
          <>
            <p>{String(site.name ?? '')}</p>
            <p class="muted">{String(site.address ?? '')}</p>
            {typeof site.access_notes === 'string' && site.access_notes && <p class="hint">{site.access_notes}</p>}
            <MapLink lat={site.lat} lon={site.lon} />
          </>
        )}
        {contacts.length > 0 && (
          <ul class="contacts">
            {contacts.map((contact) => (
              <li key={contact.phone ?? contact.name}>
                <span>
                  {contact.name} <span class="muted">{contact.role}</span>
                </span>
                {contact.phone && (
                  <a class="btn btn-secondary" href={`tel:${contact.phone.replace(/\s+/g, '')}`}>
                    {contact.phone}
                  </a>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>

      {unit && (
        <section class="card" data-testid="job-unit">
          <h2>{t('job.unit')}</h2>
          <p class="strong">{String(unit.model ?? '')}</p>
          <p class="mono">{String(unit.serial ?? '')}</p>
          {typeof unit.position === 'string' && <p class="muted">{unit.position}</p>}
          {detail.unitHistory.length > 0 && (
            <>
              <h3>{t('job.unitHistory')}</h3>
              <ul class="plain">
                {detail.unitHistory.slice(0, 10).map((other) => (
                  <li key={other.id}>
                    <a href={`/jobs/${other.id}`}>
                      {other.number} · {formatDateTime(other.scheduled_start, locale)} · {statusLabel(other.status)}
                    </a>
                    <span class="muted"> {other.description}</span>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}

      <section class="card" data-testid="job-history">
        <h2>{t('job.history')}</h2>
        <ul class="timeline">
          {(['accepted_at', 'arrived_at', 'departed_at', 'work_done_at', 'submitted_at', 'approved_at'] as const)
            .filter((key) => typeof job.data[key] === 'string')
            .map((key) => (
              <li key={key}>
                <span class="muted">{formatDateTime(job.data[key] as string, locale)}</span> {t(`job.at.${key}` as 'job.at.accepted_at')}
              </li>
            ))}
          {detail.logs.map((log) => (
            <li key={log.id} data-pending={log.pending ? '1' : '0'}>
              <span class="muted">{formatDateTime(log.at, locale)}</span> {t(`log.kind.${log.kind}` as 'log.kind.note')}:{' '}
              {log.minutes !== null && `${formatNumber(log.minutes, locale)} ${t('common.minutes')} `}
              {log.value !== null && `${formatNumber(log.value, locale, 3)} `}
              {log.text}
              {log.pending && <span class="chip chip-pending">{t('common.pending')}</span>}
            </li>
          ))}
          {detail.signoff && (
            <li>
              <span class="muted">{formatDateTime(detail.signoff.signed_at as string, locale)}</span> {t('job.signedBy', { name: String(detail.signoff.signer_name ?? '') })}
            </li>
          )}
          {detail.approval && (
            <li>
              <span class="muted">{formatDateTime(detail.approval.decided_at as string, locale)}</span>{' '}
              {detail.approval.decision === 'approve' ? t('job.approved') : t('job.returned', { reason: String(detail.approval.reason ?? '') })}
            </li>
          )}
        </ul>
      </section>

      {/* Last in the page and sticky: the next action sits above the bottom navigation, under the thumb. */}
      <Actions detail={detail} clientId={clientId} />
    </section>
  );
}

export default JobScreen;
