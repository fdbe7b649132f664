/** Today: the technician's jobs for their local day, the overdue ones, and the next days. From IndexedDB only. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { useLive } from '../../data/live';
import { groupByDay } from '../../data/overlay';
import { openJobs, type JobCard } from '../../data/queries';
import { localeStore, t, isMessageKey } from '../../i18n';
import { useStore } from '../../store';
import { syncStatusStore } from '../../sync/engine';
import { formatDay, formatTime } from '../../ui/format';

export function statusLabel(status: string): string {
  const key = `job.status.${status}`;
  return isMessageKey(key) ? t(key) : status;
}

export function priorityLabel(priority: string): string {
  const key = `job.priority.${priority}`;
  return isMessageKey(key) ? t(key) : priority;
}

function JobRow({ card, locale }: { card: JobCard; locale: string }) {
  const { job } = card;
  return (
    <li>
      <a
        class="job-row"
        href={`/jobs/${job.id}`}
        data-testid="job-row"
        data-job-id={job.id}
        data-number={job.number}
        data-status={job.status}
        data-pending={job.pending > 0 ? '1' : '0'}
      >
        <span class="job-row-top">
          <span class="job-time">
            {job.scheduled_start ? `${formatDay(job.scheduled_start, locale)} ${formatTime(job.scheduled_start, locale)}` : t('today.unscheduled')}
          </span>
          <span class={`status-chip status-${job.status}`}>{statusLabel(job.status)}</span>
        </span>
        <span class="job-number">
          {job.number}
          {job.priority !== 'normal' && <span class={`chip prio-${job.priority}`}>{priorityLabel(job.priority)}</span>}
          {job.pending > 0 && (
            <span class="chip chip-pending" data-testid="job-pending">
              {t('today.pending', { count: job.pending })}
            </span>
          )}
          {job.pinned && <span class="chip chip-danger">{t('today.pinned')}</span>}
        </span>
        <span class="job-customer">{card.customer}</span>
        <span class="job-site">{card.site}</span>
        {card.unit && <span class="job-unit">{card.unit}</span>}
        <span class="job-desc">{job.description}</span>
      </a>
    </li>
  );
}

function Group({ title, cards, locale, testId }: { title: string; cards: JobCard[]; locale: string; testId: string }) {
  if (cards.length === 0) return null;
  return (
    <section class="job-group" data-testid={testId}>
      <h2>
        {title} <span class="count">{cards.length}</span>
      </h2>
      <ul class="job-list">
        {cards.map((card) => (
          <JobRow key={card.job.id} card={card} locale={locale} />
        ))}
      </ul>
    </section>
  );
}

/**
 * `children` (the cards under the list) render only once the list has: inserted below it, they never
 * push what is already on the screen (no layout shift on a cold start).
 */
export function Today({ clientId, userId, children }: { clientId: string; userId: string; children?: ComponentChildren }) {
  const locale = useStore(localeStore);
  const status = useStore(syncStatusStore);
  const cards = useLive(() => openJobs(clientId, userId), [clientId, userId]);
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    // The day turns at local midnight: regroup every minute.
    const timer = setInterval(() => setNow(new Date()), 60_000);
    return () => clearInterval(timer);
  }, []);

  if (cards === undefined) return <section class="card" data-testid="today" data-state="loading" />;
  const groups = groupByDay(
    cards.map((card) => ({ ...card.job, card })),
    now,
  );
  const pick = (list: { card: JobCard }[]) => list.map((item) => item.card);
  const never = status.lastSyncAt === null;
  return (
    <section data-testid="today" data-state="ready" data-count={cards.length}>
      <h1 class="screen-title">{t('today.title')}</h1>
      {cards.length === 0 && (
        <p class="card empty" data-testid="today-empty">
          {never ? (status.running ? t('today.firstSync', { count: status.received }) : t('today.neverSynced')) : t('today.none')}
        </p>
      )}
      <Group title={t('today.overdue')} cards={pick(groups.overdue)} locale={locale} testId="today-overdue" />
      <Group title={t('today.today')} cards={pick(groups.today)} locale={locale} testId="today-today" />
      <Group title={t('today.upcoming')} cards={pick(groups.upcoming)} locale={locale} testId="today-upcoming" />
      {children}
    </section>
  );
}
