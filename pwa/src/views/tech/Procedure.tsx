/** The job's procedure step by step: one tap for pass, fail or n/a; readings against limits; photos from the camera. */
import { useEffect, useState } from 'preact/hooks';
import { recordStep } from '../../data/actions';
import { useLive } from '../../data/live';
import { outOfRange, type JobView, type StepSpec, type StepView } from '../../data/overlay';
import { jobDetail } from '../../data/queries';
import { db, type BlobRecord } from '../../db';
import { localeStore, t } from '../../i18n';
import { useStore } from '../../store';
import { discardDraft, keepPhotosFrom } from '../../sync/blobs';
import { formatLimits, formatNumber } from '../../ui/format';
import { Thumb } from '../../ui/Thumb';

/** Statuses in which the work record takes steps (the server refuses the rest). */
const WORKING = new Set(['on_site', 'work_done', 'returned']);

function parseReading(text: string): number | null {
  const cleaned = text.trim().replace(',', '.');
  if (cleaned === '') return null;
  const value = Number(cleaned);
  return Number.isFinite(value) && Math.abs(value) <= 1e9 ? value : Number.NaN;
}

function StepCard({
  spec,
  view,
  job,
  clientId,
  blobs,
  serverThumbs,
  drafts,
  index,
  editable,
}: {
  spec: StepSpec;
  view: StepView;
  job: JobView;
  clientId: string;
  blobs: Map<string, BlobRecord>;
  /** Thumbnails on the server of photos this phone does not hold (taken on another phone, or cleared). */
  serverThumbs: Map<string, string>;
  drafts: BlobRecord[];
  index: number;
  editable: boolean;
}) {
  const locale = useStore(localeStore);
  const needsReading = spec.requires.includes('reading');
  const needsPhoto = spec.requires.includes('photo');
  const [reading, setReading] = useState(view.value === null ? '' : String(view.value));
  const [note, setNote] = useState(view.note);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setReading(view.value === null ? '' : String(view.value));
    setNote(view.note);
  }, [view.value, view.note]);

  const value = parseReading(reading);
  const invalid = Number.isNaN(value);
  const out = !invalid && outOfRange(spec, value);
  const photos = [...view.blobs, ...drafts.map((d) => d.sha256).filter((sha) => !view.blobs.includes(sha))];

  const record = async (result: 'pass' | 'fail' | 'na') => {
    setError(null);
    if (result !== 'na') {
      if (needsReading && (value === null || invalid)) return setError(t('step.needsReading', { unit: spec.reading_unit }));
      if (needsPhoto && photos.length === 0) return setError(t('step.needsPhoto'));
      if (out && !note.trim()) return setError(t('step.outOfRangeNote'));
    } else if (spec.key_moment && spec.mandatory) {
      return setError(t('step.keyMomentNa'));
    }
    setBusy(true);
    try {
      await recordStep(clientId, job, spec, result, {
        value: invalid ? null : value,
        note,
        blobs: view.blobs,
        drafts: drafts.map((d) => d.sha256),
      });
    } finally {
      setBusy(false);
    }
  };

  const onPhoto = async (event: Event) => {
    const refused = await keepPhotosFrom(event.target as HTMLInputElement, { clientId, jobId: job.id, draftStepId: spec.id });
    setError(refused ? t(`photo.error.${refused}` as 'photo.error.EMPTY') : null);
  };

  return (
    <li class={`card step ${view.result ? `step-${view.result}` : ''}`} data-testid="step" data-step-id={spec.id} data-result={view.result ?? ''} data-pending={view.pending ? '1' : '0'}>
      <div class="step-head">
        <span class="step-index">{index + 1}</span>
        <h2 class="step-title">{spec.title}</h2>
      </div>
      <div class="step-chips">
        {spec.key_moment && <span class="chip chip-key">{t('step.keyMoment')}</span>}
        {spec.monitoring_point && <span class="chip chip-monitor">{t('step.monitoringPoint')}</span>}
        {!spec.mandatory && <span class="chip">{t('step.optional')}</span>}
        {view.pending && <span class="chip chip-pending">{t('common.pending')}</span>}
      </div>
      {spec.instructions && <p class="muted">{spec.instructions}</p>}
      {needsReading && (
        <label class="field">
          <span class="field-label">
            {t('step.reading')} ({formatLimits(spec.reading_min, spec.reading_max, spec.reading_unit, locale)})
          </span>
          <span class="reading-row">
            <input
              type="text"
              inputMode="decimal"
              autoComplete="off"
              data-testid="step-reading"
              disabled={!editable}
              aria-invalid={invalid || out ? 'true' : 'false'}
              value={reading}
              onInput={(event) => setReading((event.target as HTMLInputElement).value)}
            />
            <span class="unit">{spec.reading_unit}</span>
          </span>
          {invalid && <span class="form-error">{t('step.notANumber')}</span>}
          {out && (
            <span class="out-of-range" data-testid="out-of-range" role="alert">
              {t('step.outOfRange', { value: formatNumber(value as number, locale, 3), limits: formatLimits(spec.reading_min, spec.reading_max, spec.reading_unit, locale) })}
            </span>
          )}
        </label>
      )}
      {(needsPhoto || photos.length > 0 || editable) && (
        <div class="photos">
          {photos.map((sha) => (
            <Thumb key={sha} record={blobs.get(sha)} sha256={sha} serverUrl={serverThumbs.get(sha)} onDiscard={drafts.some((d) => d.sha256 === sha) ? () => void discardDraft(sha) : undefined} />
          ))}
          {editable && (
            <label class={`btn btn-secondary photo-btn ${needsPhoto && photos.length === 0 ? 'needed' : ''}`}>
              <span>{t('step.takePhoto')}</span>
              <input class="visually-hidden" type="file" accept="image/*" capture="environment" multiple data-testid="step-photo" onChange={(e) => void onPhoto(e)} />
            </label>
          )}
        </div>
      )}
      <label class="field">
        <span class="field-label">{out ? t('step.noteRequired') : t('step.note')}</span>
        <textarea data-testid="step-note" rows={out ? 3 : 1} maxLength={2000} disabled={!editable} value={note} onInput={(event) => setNote((event.target as HTMLTextAreaElement).value)} />
      </label>
      {error && (
        <p class="form-error" role="alert" data-testid="step-error">
          {error}
        </p>
      )}
      {editable && (
        <div class="result-buttons" role="group" aria-label={t('step.result')}>
          {(['pass', 'fail', 'na'] as const).map((result) => (
            <button
              key={result}
              type="button"
              class={`btn result-${result} ${view.result === result ? 'is-chosen' : ''}`}
              aria-pressed={view.result === result ? 'true' : 'false'}
              data-testid={`step-${result}`}
              disabled={busy}
              onClick={() => void record(result)}
            >
              {t(`step.result.${result}`)}
            </button>
          ))}
        </div>
      )}
    </li>
  );
}

export function ProcedureScreen({ clientId, id }: { clientId: string; id: string }) {
  const detail = useLive(() => jobDetail(clientId, id), [clientId, id]);
  const drafts = useLive(() => db.blobs.where('jobId').equals(id).filter((b) => !!b.draftStepId).toArray(), [id]);
  if (!detail || !drafts) return <section data-testid="procedure" data-state="loading" />;
  const { job, procedure } = detail;
  const editable = WORKING.has(job.status);
  const serverThumbs = new Map(detail.attachments.filter((a) => a.thumbnail_url).map((a) => [a.blob, a.thumbnail_url!]));
  const done = detail.steps.filter((step) => step.result !== null).length;
  return (
    <section data-testid="procedure" data-state="ready">
      <div class="screen-head">
        <a href={`/jobs/${job.id}`} class="back" aria-label={t('nav.back')}>
          ‹
        </a>
        <h1 class="screen-title">
          {job.number} · {t('job.procedure')}
        </h1>
      </div>
      {procedure ? <p class="muted">{procedure.name}</p> : <p class="card">{t('step.noProcedure')}</p>}
      {!editable && <p class="notice">{t('step.notOnSite')}</p>}
      {procedure && (
        <p class="progress-line" data-testid="steps-progress">
          <progress max={procedure.steps.length} value={done} /> {t('job.stepsDone', { done, total: procedure.steps.length })}
        </p>
      )}
      <ol class="steps">
        {procedure?.steps.map((spec, index) => (
          <StepCard
            key={spec.id}
            spec={spec}
            view={detail.steps[index]}
            job={job}
            clientId={clientId}
            blobs={detail.localBlobs}
            serverThumbs={serverThumbs}
            drafts={drafts.filter((d) => d.draftStepId === spec.id)}
            index={index}
            editable={editable}
          />
        ))}
      </ol>
      <a class="btn btn-primary btn-block bottom-action" href={`/jobs/${job.id}`} data-testid="back-to-job">
        {t('step.backToJob')}
      </a>
    </section>
  );
}

export default ProcedureScreen;
