/** One job: what is to be done, where, the unit and its history, the status actions allowed now, the job's record. */
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { currentGeo, transitionJob } from '../../data/actions';
import { useLive } from '../../data/live';
import { missingSteps, NEXT_STATUSES } from '../../data/overlay';
import { jobDetail, type JobDetail } from '../../data/queries';
import { localeStore, t } from '../../i18n';
import { useStore } from '../../store';
import { formatDateTime, formatNumber } from '../../ui/format';
import { priorityLabel, statusLabel } from './Today';

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

export function JobScreen({ clientId, id }: { clientId: string; id: string }) {
  const locale = useStore(localeStore);
  const detail = useLive(() => jobDetail(clientId, id), [clientId, id]);
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

      <nav class="card job-links">
        <a class="btn btn-secondary btn-block" href={`/jobs/${job.id}/steps`} data-testid="open-procedure">
          {t('job.procedure')} {total > 0 && <span class="count">{t('job.stepsDone', { done, total })}</span>}
        </a>
        <a class="btn btn-secondary btn-block" href={`/jobs/${job.id}/parts`} data-testid="open-parts">
          {t('job.partsAndTime')}
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
