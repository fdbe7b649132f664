/** A report from the field (SYNC.md `quality.report`): a complaint heard on site, a nonconformance or an observation, with photos; from a job or on its own. */
import { useState } from 'preact/hooks';
import { useLive } from '../../data/live';
import { db, newUuid } from '../../db';
import { t } from '../../i18n';
import { discardDraft, keepPhotosFrom } from '../../sync/blobs';
import { enqueue } from '../../sync/outbox';
import { Thumb } from '../../ui/Thumb';

const KINDS = ['complaint', 'nonconformance', 'observation'] as const;

export function ReportScreen({ clientId, jobId }: { clientId: string; jobId?: string }) {
  const job = useLive(() => (jobId ? db.records.get(['job', jobId]) : Promise.resolve(undefined)), [jobId]);
  // Photos for a report not sent yet are drafts under a step id of their own ("report"), kept across reloads.
  const draftKey = `report:${jobId ?? 'none'}`;
  const drafts = useLive(() => db.blobs.filter((b) => b.draftStepId === draftKey).sortBy('createdAt'), [draftKey]);
  const [kind, setKind] = useState<(typeof KINDS)[number]>('observation');
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [sent, setSent] = useState(0);

  const onPhoto = async (event: Event) => {
    const refused = await keepPhotosFrom(event.target as HTMLInputElement, { clientId, jobId, draftStepId: draftKey });
    setError(refused ? t(`photo.error.${refused}` as 'photo.error.EMPTY') : null);
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    if (!text.trim()) return setError(t('report.needText'));
    const blobs = (drafts ?? []).map((d) => d.sha256);
    const args: Record<string, unknown> = { report_id: newUuid(), kind, text: text.trim(), blobs };
    if (jobId) args.job_id = jobId;
    await enqueue(clientId, 'quality.report', args, {
      label: job ? String(job.data.number ?? '') : undefined,
      alsoInTransaction: async () => {
        for (const sha of blobs) await db.blobs.update(sha, { draftStepId: undefined });
      },
    });
    setText('');
    setSent(sent + 1);
  };

  return (
    <form class="card form" data-testid="report-form" onSubmit={(e) => void submit(e)}>
      <h1 class="screen-title">{jobId && job ? t('report.titleJob', { job: String(job.data.number ?? '') }) : t('report.title')}</h1>
      <div class="segmented" role="radiogroup" aria-label={t('report.kind')}>
        {KINDS.map((k) => (
          <button key={k} type="button" role="radio" aria-checked={kind === k ? 'true' : 'false'} class={`btn ${kind === k ? 'btn-primary' : 'btn-secondary'}`} data-testid={`report-kind-${k}`} onClick={() => setKind(k)}>
            {t(`report.kind.${k}`)}
          </button>
        ))}
      </div>
      <label class="field">
        <span class="field-label">{t('report.text')}</span>
        <textarea rows={4} maxLength={4000} data-testid="report-text" value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      </label>
      <div class="photos">
        {(drafts ?? []).map((blob) => (
          <Thumb key={blob.sha256} record={blob} sha256={blob.sha256} onDiscard={() => void discardDraft(blob.sha256)} />
        ))}
        <label class="btn btn-secondary photo-btn">
          <span>{t('step.takePhoto')}</span>
          <input class="visually-hidden" type="file" accept="image/*" capture="environment" multiple data-testid="report-photo" onChange={(e) => void onPhoto(e)} />
        </label>
      </div>
      {error && <p class="form-error" role="alert">{error}</p>}
      {sent > 0 && (
        <p class="notice notice-ok" role="status" data-testid="report-saved">
          {t('report.saved')}
        </p>
      )}
      <button type="submit" class="btn btn-primary btn-block" data-testid="report-save">
        {t('report.save')}
      </button>
    </form>
  );
}

export default ReportScreen;
