/**
 * Customer mode: the phone in the customer's hands. Only this screen shows (the shell renders nothing
 * else while the mode lasts); the customer reads what was done in their own language, signs, rates and
 * accepts or refuses; the technician's PIN ends the mode. Everything is recorded offline through the outbox.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { encode } from 'uqr';
import { apiFetch } from '../../api';
import { customerModeStore, endCustomerModeBySigningOut, leaveCustomerMode, setCustomerLocale } from '../../customerMode';
import { logout } from '../../auth';
import { stopSync } from '../../sync/engine';
import { forgetRecords } from '../../sync/pull';
import { currentGeo } from '../../data/actions';
import { useLive } from '../../data/live';
import { jobDetail, itemNames, signoffOf, type JobDetail } from '../../data/queries';
import { db, newUuid, type Locale } from '../../db';
import { LOCALE_NAMES, translate, type MessageKey, type Params } from '../../i18n';
import { onlineStore } from '../../net';
import { useStore } from '../../store';
import { addBlob } from '../../sync/blobs';
import { syncNow } from '../../sync/engine';
import { enqueue } from '../../sync/outbox';
import { buildSummary, signoffHash, type CustomerSummary } from '../../signoffHash';
import { formatDateTime, formatNumber } from '../../ui/format';
import { SignatureCanvas, type SignatureHandle } from '../../ui/SignatureCanvas';
import { Stars } from '../../ui/Stars';
import { Thumb } from '../../ui/Thumb';

function QrCode({ text, label }: { text: string; label: string }) {
  const qr = useMemo(() => encode(text, { ecc: 'M', border: 2 }), [text]);
  const cells: string[] = [];
  qr.data.forEach((row, y) => row.forEach((on, x) => on && cells.push(`M${x} ${y}h1v1h-1z`)));
  return (
    <svg class="qr" data-testid="qr" viewBox={`0 0 ${qr.size} ${qr.size}`} role="img" aria-label={label} shape-rendering="crispEdges">
      <rect width={qr.size} height={qr.size} fill="#fff" />
      <path d={cells.join('')} fill="#000" />
    </svg>
  );
}

function Summary({ summary, detail, tr, locale }: { summary: CustomerSummary; detail: JobDetail; tr: Tr; locale: Locale }) {
  const photos = [...detail.localBlobs.values()].filter((blob) => blob.thumb).slice(0, 6);
  return (
    <section class="card cust-summary" data-testid="customer-summary">
      <h2>{tr('cust.whatWasDone')}</h2>
      <p class="strong">
        {summary.job.number} · {summary.job.type_label}
      </p>
      <p>{summary.job.site}</p>
      {summary.job.unit && <p class="muted">{summary.job.unit}</p>}
      <p>{summary.job.description}</p>
      <ul class="plain cust-steps">
        {summary.steps.map((step) => (
          <li key={step.title}>
            <span>{step.title}</span>
            <span class={`result-word result-${step.result}`}>
              {tr(`step.result.${step.result}` as MessageKey)}
              {step.value !== null && ` · ${formatNumber(step.value, locale, 3)} ${step.unit}`}
              {step.value !== null && step.limits && ` (${step.limits})`}
            </span>
          </li>
        ))}
      </ul>
      {summary.parts.length > 0 && (
        <>
          <h3>{tr('cust.parts')}</h3>
          <ul class="plain">
            {summary.parts.map((part) => (
              <li key={part.name}>
                {formatNumber(part.qty, locale)} × {part.name}
              </li>
            ))}
          </ul>
        </>
      )}
      {photos.length > 0 && (
        <div class="photos">
          {photos.map((blob) => (
            <Thumb key={blob.sha256} record={blob} sha256={blob.sha256} />
          ))}
        </div>
      )}
      <p class="muted">
        {summary.time_on_site_minutes !== null && tr('cust.timeOnSite', { minutes: summary.time_on_site_minutes })}{' '}
        {tr('cust.technician', { name: summary.technician })}
      </p>
    </section>
  );
}

type Tr = (key: MessageKey, params?: Params) => string;

/** The item of each spare unit swapped in on this job (the canonical form lists a swap as its spare's item). */
async function spareItems(detail: JobDetail): Promise<Map<string, string>> {
  const ids = detail.parts.map((part) => part.spare_asset_id).filter((id): id is string => !!id);
  const rows = await db.records.bulkGet(ids.map((id) => ['asset', id] as [string, string]));
  return new Map(rows.filter((row) => !!row).map((row) => [row!.id, String(row!.data.item_id)]));
}

function LeaveWithPin({ tr }: { tr: Tr }) {
  const [asking, setAsking] = useState(false);
  const [pin, setPin] = useState('');
  const [wrong, setWrong] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="btn btn-secondary cust-leave" data-testid="customer-leave" onClick={() => setAsking(true)}>
        {tr('cust.backToTechnician')}
      </button>
    );
  }
  return (
    <form
      class="card form"
      data-testid="pin-form"
      onSubmit={(event) => {
        event.preventDefault();
        void leaveCustomerMode(pin).then((ok) => {
          setWrong(!ok);
          setPin('');
        });
      }}
    >
      <label class="field">
        <span class="field-label">{tr('cust.pinToLeave')}</span>
        <input type="password" inputMode="numeric" autoComplete="off" maxLength={8} data-testid="pin-input" value={pin} onInput={(e) => setPin((e.target as HTMLInputElement).value)} />
      </label>
      {wrong && (
        <p class="form-error" role="alert" data-testid="pin-wrong">
          {tr('cust.pinWrong')}
        </p>
      )}
      <div class="row">
        <button type="button" class="btn btn-secondary" onClick={() => setAsking(false)}>
          {tr('common.cancel')}
        </button>
        <button type="submit" class="btn btn-primary" data-testid="pin-submit">
          {tr('cust.leave')}
        </button>
      </div>
      {wrong && (
        <button
          type="button"
          class="btn btn-secondary btn-block"
          data-testid="pin-forgotten"
          onClick={() => {
            if (!window.confirm(tr('cust.forgotConfirm'))) return;
            stopSync();
            void endCustomerModeBySigningOut(async () => {
              await forgetRecords();
              await logout();
            });
          }}
        >
          {tr('cust.forgot')}
        </button>
      )}
    </form>
  );
}

export function CustomerSignOff({ clientId, jobId, technician, startLocale }: { clientId: string; jobId: string; technician: string; startLocale: Locale }) {
  const kept = customerModeStore.get()?.locale;
  const [locale, setLocaleState] = useState<Locale>(kept === 'en' || kept === 'zh-CN' ? kept : startLocale);
  const setLocale = (next: Locale) => {
    setLocaleState(next);
    void setCustomerLocale(next);
  };
  const tr: Tr = (key, params) => translate(locale, key, params);
  const online = useStore(onlineStore);
  const detail = useLive(() => jobDetail(clientId, jobId), [clientId, jobId]);
  const names = useLive(() => itemNames(), []);
  const [signer, setSigner] = useState('');
  const [signed, setSigned] = useState(false);
  const [rating, setRating] = useState<number | null>(null);
  const [technical, setTechnical] = useState<number | null>(null);
  const [service, setService] = useState<number | null>(null);
  const [comment, setComment] = useState('');
  const [refusing, setRefusing] = useState(false);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<{ accepted: boolean } | null>(null);
  const [surveyUrl, setSurveyUrl] = useState<string | null>(null);
  const pad = useRef<SignatureHandle | null>(null);
  const signedBefore = !!detail && signoffOf(detail) !== null;

  // The back button stays in the mode: every history step lands here again.
  useEffect(() => {
    const stay = () => window.history.pushState(null, '', window.location.href);
    stay();
    window.addEventListener('popstate', stay);
    return () => window.removeEventListener('popstate', stay);
  }, []);

  // After signing, online: the sign-off goes first, then the customer's survey link for the QR code.
  useEffect(() => {
    if (!(done ?? signedBefore) || !online || surveyUrl) return;
    let live = true;
    void syncNow()
      .then(() => apiFetch<{ url: string | null }>(`/api/jobs/${jobId}/survey`, { method: 'POST', body: {} }))
      .then((survey) => live && survey.url && setSurveyUrl(survey.url))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [done, signedBefore, online]);

  if (!detail || !names) return <section class="customer" data-testid="customer-mode" data-state="loading" />;
  // Signed already (a reload after signing): the thank-you again, never a second sign-off.
  const finished = done ?? signoffOf(detail);
  const summary = buildSummary(detail, names, technician, locale, (key, params) => translate(locale, key, params));

  const submit = async (accepted: boolean) => {
    setError(null);
    if (!signer.trim()) return setError(tr('cust.needName'));
    if (!pad.current || pad.current.isEmpty()) return setError(tr('cust.needSignature'));
    if (rating === null) return setError(tr('cust.needRating'));
    if (!accepted && !reason.trim()) return setError(tr('cust.needReason'));
    setBusy(true);
    try {
      const png = await pad.current.toPng();
      const blob = await addBlob(png, 'image/png', { clientId, jobId });
      // Milliseconds, as the canonical form writes signed_at (docs/SYNC.md).
      const signedAt = new Date().toISOString();
      const answers = {
        signer_name: signer.trim(),
        accepted,
        rating,
        rating_technical: technical,
        rating_service: service,
        comment: accepted ? comment.trim() : reason.trim(),
        signed_at: signedAt,
        signature_blob: blob.sha256,
      };
      const args: Record<string, unknown> = {
        signoff_id: newUuid(),
        job_id: jobId,
        ...answers,
        client_hash: await signoffHash(detail, answers, await spareItems(detail)),
      };
      if (technical === null) delete args.rating_technical;
      if (service === null) delete args.rating_service;
      const geo = await currentGeo(3000);
      if (geo) args.geo = geo;
      await enqueue(clientId, 'job.signoff', args, { label: detail.job.number });
      setDone({ accepted });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="customer" data-testid="customer-mode" data-state={finished ? 'done' : 'ready'} lang={locale}>
      <div class="cust-top">
        <div class="segmented cust-lang" role="radiogroup" aria-label={tr('lang.label')}>
          {(['zh-CN', 'en'] as Locale[]).map((code) => (
            <button key={code} type="button" role="radio" aria-checked={locale === code ? 'true' : 'false'} class={`btn ${locale === code ? 'btn-primary' : 'btn-secondary'}`} data-testid={`customer-lang-${code}`} onClick={() => setLocale(code)}>
              {LOCALE_NAMES[code]}
            </button>
          ))}
        </div>
      </div>
      {finished ? (
        <section class="card cust-thanks" data-testid="customer-thanks" data-accepted={finished.accepted ? '1' : '0'}>
          <h1>{finished.accepted ? tr('cust.thanks') : tr('cust.thanksRefused')}</h1>
          <p>{tr('cust.recorded')}</p>
          {surveyUrl ? (
            <>
              <p>{tr('cust.scanSurvey')}</p>
              <QrCode text={surveyUrl} label={tr('cust.scanSurvey')} />
            </>
          ) : (
            <p class="muted" data-testid="survey-later">
              {online ? tr('cust.surveyComing') : tr('cust.surveyLater')}
            </p>
          )}
        </section>
      ) : (
        <>
          <h1 class="screen-title">{tr('cust.title')}</h1>
          <Summary summary={summary} detail={detail} tr={tr} locale={locale} />
          <section class="card form" data-testid="customer-form">
            <label class="field">
              <span class="field-label">{tr('cust.signerName')}</span>
              <input data-testid="signer-name" maxLength={200} autoComplete="name" value={signer} onInput={(e) => setSigner((e.target as HTMLInputElement).value)} />
            </label>
            <span class="field-label">{tr('cust.signature')}</span>
            <SignatureCanvas label={tr('cust.signature')} clearLabel={tr('cust.clear')} onChange={setSigned} handle={(h) => (pad.current = h)} />
            {signed && <span class="visually-hidden" data-testid="signature-signed" />}
            <Stars testId="rating-overall" label={tr('cust.rating')} hint={tr('cust.ratingHint')} value={rating} onChange={setRating} starLabel={(n) => tr('cust.stars', { n })} />
            <Stars testId="rating-technical" label={tr('cust.ratingTechnical')} hint={tr('cust.ratingTechnicalHint')} value={technical} onChange={setTechnical} starLabel={(n) => tr('cust.stars', { n })} />
            <Stars testId="rating-service" label={tr('cust.ratingService')} hint={tr('cust.ratingServiceHint')} value={service} onChange={setService} starLabel={(n) => tr('cust.stars', { n })} />
            <label class="field">
              <span class="field-label">{tr('cust.comment')}</span>
              <textarea rows={2} maxLength={4000} data-testid="customer-comment" value={comment} onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)} />
            </label>
            {refusing && (
              <label class="field">
                <span class="field-label">{tr('cust.refuseReason')}</span>
                <textarea rows={3} maxLength={4000} data-testid="refuse-reason" value={reason} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} />
              </label>
            )}
            {error && (
              <p class="form-error" role="alert" data-testid="customer-error">
                {error}
              </p>
            )}
            <div class="cust-buttons">
              {refusing ? (
                <>
                  <button type="button" class="btn btn-secondary" onClick={() => setRefusing(false)}>
                    {tr('common.cancel')}
                  </button>
                  <button type="button" class="btn btn-danger" data-testid="customer-refuse-confirm" disabled={busy} onClick={() => void submit(false)}>
                    {tr('cust.refuse')}
                  </button>
                </>
              ) : (
                <>
                  <button type="button" class="btn btn-secondary" data-testid="customer-refuse" onClick={() => setRefusing(true)}>
                    {tr('cust.refuse')}
                  </button>
                  <button type="button" class="btn btn-primary" data-testid="customer-accept" disabled={busy} onClick={() => void submit(true)}>
                    {tr('cust.accept')}
                  </button>
                </>
              )}
            </div>
          </section>
        </>
      )}
      <LeaveWithPin tr={tr} />
      <p class="muted cust-when">{formatDateTime(Date.now(), locale)}</p>
    </section>
  );
}

export default CustomerSignOff;

