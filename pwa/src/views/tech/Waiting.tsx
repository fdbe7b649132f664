/** What waits to sync: every recorded mutation in words with its state, photos with upload progress, the last sync, "Sync now". */
import { useLive } from '../../data/live';
import { itemNames, outboxView } from '../../data/queries';
import type { OutboxEntry } from '../../db';
import { db } from '../../db';
import { isMessageKey, localeStore, t } from '../../i18n';
import { onlineStore } from '../../net';
import { useStore } from '../../store';
import { uploadProgressStore } from '../../sync/blobs';
import { storageLow, storageStore, syncNow, syncStatusStore } from '../../sync/engine';
import { effectiveStatus, isFinal, markSeen, needsAttention } from '../../sync/outbox';
import { formatBytes, formatDateTime, formatNumber } from '../../ui/format';
import { statusLabel } from './Today';

interface Names {
  items: Map<string, string>;
  steps: Map<string, string>;
}

async function names(): Promise<Names> {
  const [items, procedures] = await Promise.all([itemNames(), db.records.where('entity').equals('procedure').toArray()]);
  const steps = new Map<string, string>();
  for (const procedure of procedures) {
    for (const step of (procedure.data.steps as { id: string; title: string }[] | undefined) ?? []) steps.set(step.id, step.title);
  }
  return { items, steps };
}

/** A mutation in the technician's words. */
export function describe(entry: OutboxEntry, n: Names, locale: string): string {
  const a = entry.args;
  const job = entry.label ?? '';
  switch (entry.name) {
    case 'job.transition':
      return t('describe.transition', { job, status: statusLabel(String(a.to)) });
    case 'job.step':
      return t('describe.step', {
        job,
        step: n.steps.get(String(a.step_id)) ?? String(a.step_id),
        result: t(`step.result.${String(a.result)}` as 'step.result.pass'),
      }) + (typeof a.value === 'number' ? ` · ${formatNumber(a.value, locale, 3)}` : '') + (Array.isArray(a.blobs) && a.blobs.length ? ` · ${t('describe.photos', { count: a.blobs.length })}` : '');
    case 'job.log':
      return t('describe.log', { job, kind: t(`log.kind.${String(a.kind)}` as 'log.kind.note') }) +
        (typeof a.minutes === 'number' ? ` · ${a.minutes} ${t('common.minutes')}` : '') +
        (typeof a.value === 'number' ? ` · ${formatNumber(a.value, locale, 3)}` : '') +
        (a.text ? ` · ${String(a.text).slice(0, 60)}` : '');
    case 'job.attach':
      return t('describe.attach', { job });
    case 'job.update':
      return t('describe.update', { job, fields: Object.keys((a.fields as object) ?? {}).map((f) => (isMessageKey(`fields.${f}`) ? t(`fields.${f}` as 'fields.findings') : f)).join(', ') });
    case 'stock.consume':
      return t('describe.consume', { job, qty: formatNumber(Number(a.qty), locale), item: n.items.get(String(a.item_id)) ?? String(a.item_id) });
    case 'spare.swap':
      return t('describe.swap', { job, serial: String(a.removed_serial || '?') });
    case 'job.signoff':
      return t(a.accepted ? 'describe.signoff' : 'describe.signoffRefused', { job, name: String(a.signer_name ?? ''), rating: String(a.rating ?? '') });
    case 'job.self_assess':
      return t('describe.selfAssess', { job, rating: String(a.overall ?? '') });
    case 'quality.report':
      return t('describe.report', { kind: t(`report.kind.${String(a.kind)}` as 'report.kind.observation'), text: String(a.text ?? '').slice(0, 60) });
    case 'custody.checkout':
      return t('describe.checkout');
    case 'custody.return':
      return t('describe.return', { condition: t(`custody.condition.${String(a.condition)}` as 'custody.condition.ok') });
    case 'custody.transfer':
      return t('describe.transfer');
    case 'custody.accept':
      return t('describe.accept');
    case 'custody.decline':
      return t('describe.decline');
    default:
      return `${entry.name} ${job}`;
  }
}

function stateLabel(entry: OutboxEntry): string {
  const status = effectiveStatus(entry);
  return t(`outbox.state.${status}` as 'outbox.state.queued');
}

function EntryRow({ entry, n, locale }: { entry: OutboxEntry; n: Names; locale: string }) {
  const status = effectiveStatus(entry);
  const result = entry.state === 'duplicate' ? { ...entry.result, ...entry.result?.result } : entry.result;
  return (
    <li class={`outbox-entry state-${status}`} data-testid="outbox-entry" data-id={entry.id} data-name={entry.name} data-state={entry.state} data-status={status}>
      <span class="outbox-words">{describe(entry, n, locale)}</span>
      <span class="outbox-meta">
        <span class={`chip state-chip state-${status}`}>{stateLabel(entry)}</span>
        <span class="muted">{formatDateTime(entry.createdAt, locale)}</span>
      </span>
      {status === 'rejected' && result && (
        <span class="outbox-reason" data-testid="outbox-reason">
          {t('outbox.reason', { message: result.message ?? result.code ?? '' })}
          {result.code && <span class="mono"> ({result.code})</span>}
        </span>
      )}
      {status === 'merged' && result && (
        <span class="outbox-reason" data-testid="outbox-merged">
          {result.overridden_fields?.length ? t('outbox.overridden', { fields: result.overridden_fields.join(', ') }) : ''}
          {result.refused_fields?.length ? ` ${t('outbox.refused', { fields: result.refused_fields.join(', ') })}` : ''}
          {result.exception_id && !result.overridden_fields?.length && !result.refused_fields?.length ? t('outbox.exceptionRaised') : ''}
        </span>
      )}
      {entry.state === 'blocked' && <span class="outbox-reason">{t('outbox.blockedReason')}</span>}
      {needsAttention(entry) && (
        <button type="button" class="btn btn-secondary" data-testid="mark-seen" onClick={() => void markSeen(entry.seq!)}>
          {t('outbox.seen')}
        </button>
      )}
    </li>
  );
}

export function WaitingScreen({ clientId }: { clientId: string }) {
  const locale = useStore(localeStore);
  const status = useStore(syncStatusStore);
  const online = useStore(onlineStore);
  const storage = useStore(storageStore);
  const progress = useStore(uploadProgressStore);
  const view = useLive(() => outboxView(clientId), [clientId]);
  const n = useLive(() => names(), []);
  if (!view || !n) return <section data-testid="waiting" data-state="loading" />;
  const attention = view.entries.filter(needsAttention);
  const pending = view.entries.filter((entry) => !isFinal(entry));
  const settling = view.entries.filter((entry) => isFinal(entry) && !needsAttention(entry));
  const photos = view.blobs.filter((blob) => blob.state !== 'uploaded');
  return (
    <section data-testid="waiting" data-state="ready" data-pending={pending.length} data-attention={attention.length}>
      <h1 class="screen-title">{t('waiting.title')}</h1>
      <section class="card sync-card">
        <p data-testid="last-sync" data-at={status.lastSyncAt ?? ''}>
          {status.lastSyncAt ? t('waiting.lastSync', { time: formatDateTime(status.lastSyncAt, locale) }) : t('waiting.neverSynced')}
        </p>
        <p class="muted" data-testid="sync-state" data-problem={status.problem ?? ''}>
          {status.running
            ? t(`waiting.phase.${status.phase}` as 'waiting.phase.pushing', { count: status.received })
            : !online
              ? t('waiting.offline')
              : status.problem
                ? t(`waiting.problem.${status.problem}` as 'waiting.problem.server', { message: status.message ?? '' })
                : pending.length === 0
                  ? t('waiting.allSent')
                  : t('waiting.willSend')}
        </p>
        <button type="button" class="btn btn-primary btn-block" data-testid="sync-now" disabled={status.running || !online} onClick={() => void syncNow()}>
          {status.running ? t('waiting.syncing') : t('waiting.syncNow')}
        </button>
      </section>

      {attention.length > 0 && (
        <section class="card attention" data-testid="needs-attention">
          <h2>
            {t('waiting.attention')} <span class="count">{attention.length}</span>
          </h2>
          <ul class="outbox">
            {attention.map((entry) => (
              <EntryRow key={entry.seq} entry={entry} n={n} locale={locale} />
            ))}
          </ul>
        </section>
      )}

      <section class="card" data-testid="outbox-pending">
        <h2>
          {t('waiting.pending')} <span class="count">{pending.length}</span>
        </h2>
        {pending.length === 0 && <p class="muted">{t('waiting.nothingPending')}</p>}
        <ul class="outbox">
          {pending.map((entry) => (
            <EntryRow key={entry.seq} entry={entry} n={n} locale={locale} />
          ))}
        </ul>
      </section>

      {photos.length > 0 && (
        <section class="card" data-testid="photo-queue">
          <h2>
            {t('waiting.photos')} <span class="count">{photos.length}</span>
          </h2>
          <ul class="outbox">
            {photos.map((blob) => {
              const sent = progress?.sha256 === blob.sha256 ? progress.sent : blob.state === 'uploaded' ? blob.size : 0;
              return (
                <li key={blob.sha256} class="outbox-entry" data-testid="photo-entry" data-state={blob.state}>
                  <span class="outbox-words">
                    {t('waiting.photo', { size: formatBytes(blob.size, locale) })}
                    {blob.error && <span class="form-error"> {blob.error}</span>}
                  </span>
                  <progress max={blob.size} value={sent} aria-label={t('waiting.uploadProgress')} />
                </li>
              );
            })}
          </ul>
        </section>
      )}

      {settling.length > 0 && (
        <section class="card" data-testid="outbox-settling">
          <h2>
            {t('waiting.settling')} <span class="count">{settling.length}</span>
          </h2>
          <ul class="outbox">
            {settling.slice(0, 50).map((entry) => (
              <EntryRow key={entry.seq} entry={entry} n={n} locale={locale} />
            ))}
          </ul>
        </section>
      )}

      <section class="card" data-testid="storage">
        <h2>{t('storage.title')}</h2>
        <p data-testid="storage-persisted" data-persisted={String(storage.persisted)}>
          {storage.persisted === true ? t('storage.persisted') : storage.persisted === false ? t('storage.notPersisted') : t('storage.unknown')}
        </p>
        {storage.usage !== null && storage.quota !== null && (
          <p>
            {t('storage.used', { used: formatBytes(storage.usage, locale), quota: formatBytes(storage.quota, locale) })}
            <progress max={storage.quota} value={storage.usage} aria-label={t('storage.title')} />
          </p>
        )}
        {storageLow(storage) && (
          <p class="notice notice-danger" role="alert" data-testid="storage-low">
            {t('storage.low')}
          </p>
        )}
      </section>
    </section>
  );
}

export default WaitingScreen;
