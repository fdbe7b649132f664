/** Parts and time: parts used from the van or person stock, a spare swap, time, notes, readings, and the technician's fields. */
import { useEffect, useState } from 'preact/hooks';
import { consumePart, logWork, swapSpare, updateJobFields } from '../../data/actions';
import { useLive } from '../../data/live';
import type { JobView } from '../../data/overlay';
import { itemNames, jobDetail, myStock, type StockLine } from '../../data/queries';
import { localeStore, t } from '../../i18n';
import { useStore } from '../../store';
import { formatDateTime, formatNumber } from '../../ui/format';

const WORKING = new Set(['on_site', 'work_done', 'returned', 'en_route', 'accepted']);

function PartPicker({ clientId, job, userId }: { clientId: string; job: JobView; userId: string }) {
  const locale = useStore(localeStore);
  const stock = useLive(() => myStock(clientId, userId), [clientId, userId]);
  const [search, setSearch] = useState('');
  const [chosen, setChosen] = useState<StockLine | null>(null);
  const [qty, setQty] = useState(1);
  const [assetId, setAssetId] = useState('');
  const [done, setDone] = useState<string | null>(null);
  if (!stock) return null;
  const query = search.trim().toLowerCase();
  const lines = stock.lines.filter(
    (line) =>
      ['part', 'consumable'].includes(line.kind) &&
      line.qty > 0 &&
      (!query || line.name.toLowerCase().includes(query) || line.sku.toLowerCase().includes(query)),
  );
  const serials = chosen ? stock.assets.filter((asset) => asset.item_id === chosen.item_id) : [];

  const save = async () => {
    if (!chosen || qty < 1) return;
    await consumePart(clientId, job, {
      item_id: chosen.item_id,
      qty: chosen.tracking === 'serial' ? 1 : qty,
      size: chosen.size,
      from_location_id: chosen.location_id,
      asset_id: assetId || undefined,
    });
    setDone(t('parts.recorded', { qty: formatNumber(qty, locale), name: chosen.name }));
    setChosen(null);
    setQty(1);
    setAssetId('');
    setSearch('');
  };

  return (
    <section class="card" data-testid="part-picker">
      <h2>{t('parts.add')}</h2>
      {done && (
        <p class="notice notice-ok" role="status">
          {done}
        </p>
      )}
      {!chosen && (
        <>
          <label class="field">
            <span class="field-label">{t('parts.search')}</span>
            <input type="search" data-testid="part-search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
          </label>
          {lines.length === 0 && <p class="muted">{t('parts.noneInStock')}</p>}
          <ul class="pick-list">
            {lines.slice(0, 30).map((line) => (
              <li key={`${line.location_id}/${line.item_id}/${line.size}`}>
                <button type="button" class="pick" data-testid="part-option" data-sku={line.sku} onClick={() => (setChosen(line), setDone(null))}>
                  <span class="strong">{line.name}</span>
                  <span class="muted">
                    {line.sku}
                    {line.size && ` · ${t('custody.size', { size: line.size })}`} · {t(`parts.from.${line.location_kind}` as 'parts.from.vehicle')}
                  </span>
                  <span class="num">
                    {formatNumber(line.qty, locale)} {line.unit}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      {chosen && (
        <div class="form">
          <p class="strong">
            {chosen.name} <span class="muted">{chosen.sku}</span>
          </p>
          {chosen.tracking === 'serial' ? (
            <label class="field">
              <span class="field-label">{t('parts.serial')}</span>
              <select data-testid="part-serial" value={assetId} onChange={(e) => setAssetId((e.target as HTMLSelectElement).value)}>
                <option value="">{t('parts.chooseSerial')}</option>
                {serials.map((asset) => (
                  <option key={asset.id} value={asset.id}>
                    {asset.serial}
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <div class="stepper" role="group" aria-label={t('parts.qty')}>
              <button type="button" class="btn btn-secondary" aria-label="−" onClick={() => setQty(Math.max(1, qty - 1))}>
                −
              </button>
              <input
                type="number"
                inputMode="numeric"
                min={1}
                max={chosen.qty}
                data-testid="part-qty"
                aria-label={t('parts.qty')}
                value={qty}
                onInput={(e) => setQty(Math.max(1, Math.floor(Number((e.target as HTMLInputElement).value) || 1)))}
              />
              <button type="button" class="btn btn-secondary" aria-label="+" onClick={() => setQty(qty + 1)}>
                +
              </button>
              <span class="muted">{t('parts.available', { qty: formatNumber(chosen.qty, locale), unit: chosen.unit })}</span>
            </div>
          )}
          {chosen.tracking !== 'serial' && qty > chosen.qty && <p class="hint">{t('parts.moreThanStock')}</p>}
          <div class="row">
            <button type="button" class="btn btn-secondary" onClick={() => setChosen(null)}>
              {t('common.cancel')}
            </button>
            <button type="button" class="btn btn-primary" data-testid="part-save" disabled={chosen.tracking === 'serial' && !assetId} onClick={() => void save()}>
              {t('parts.use')}
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

function SpareSwap({ clientId, job, userId }: { clientId: string; job: JobView; userId: string }) {
  const stock = useLive(() => myStock(clientId, userId), [clientId, userId]);
  const [spare, setSpare] = useState('');
  const [removed, setRemoved] = useState('');
  const [done, setDone] = useState(false);
  if (!stock || !job.unit_id) return null;
  const spares = stock.assets.filter((asset) => asset.kind === 'spare_unit');
  if (spares.length === 0) return null;
  return (
    <section class="card" data-testid="spare-swap">
      <h2>{t('parts.swap')}</h2>
      <p class="muted">{t('parts.swapHint')}</p>
      {done && <p class="notice notice-ok">{t('parts.swapRecorded')}</p>}
      <label class="field">
        <span class="field-label">{t('parts.spare')}</span>
        <select value={spare} onChange={(e) => setSpare((e.target as HTMLSelectElement).value)}>
          <option value="">{t('parts.chooseSerial')}</option>
          {spares.map((asset) => (
            <option key={asset.id} value={asset.id}>
              {asset.name} · {asset.serial}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span class="field-label">{t('parts.removedSerial')}</span>
        <input value={removed} maxLength={80} onInput={(e) => setRemoved((e.target as HTMLInputElement).value)} />
      </label>
      <button
        type="button"
        class="btn btn-primary btn-block"
        disabled={!spare}
        onClick={() =>
          void swapSpare(clientId, job, spare, removed).then(() => {
            setDone(true);
            setSpare('');
            setRemoved('');
          })
        }
      >
        {t('parts.swapSave')}
      </button>
    </section>
  );
}

function TimeAndNotes({ clientId, job }: { clientId: string; job: JobView }) {
  const [kind, setKind] = useState<'time' | 'note' | 'reading'>('time');
  const [minutes, setMinutes] = useState('');
  const [value, setValue] = useState('');
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(0);
  const save = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const m = Math.floor(Number(minutes));
    const v = Number(value.replace(',', '.'));
    if (kind === 'time' && !(m >= 1 && m <= 1440)) return setError(t('log.minutesRange'));
    if (kind === 'reading' && (value.trim() === '' || !Number.isFinite(v) || Math.abs(v) > 1e9)) return setError(t('step.notANumber'));
    if (kind === 'note' && !text.trim()) return setError(t('log.textRequired'));
    await logWork(clientId, job, { kind, text, minutes: kind === 'time' ? m : null, value: kind === 'reading' ? v : null });
    setSaved(saved + 1);
    setMinutes('');
    setValue('');
    setText('');
  };
  return (
    <form class="card form" data-testid="log-form" onSubmit={(e) => void save(e)}>
      <h2>{t('log.title')}</h2>
      <div class="segmented" role="radiogroup" aria-label={t('log.kind')}>
        {(['time', 'note', 'reading'] as const).map((k) => (
          <button key={k} type="button" role="radio" aria-checked={kind === k ? 'true' : 'false'} class={`btn ${kind === k ? 'btn-primary' : 'btn-secondary'}`} data-testid={`log-kind-${k}`} onClick={() => setKind(k)}>
            {t(`log.kind.${k}`)}
          </button>
        ))}
      </div>
      {kind === 'time' && (
        <label class="field">
          <span class="field-label">{t('log.minutes')}</span>
          <input type="number" inputMode="numeric" min={1} max={1440} data-testid="log-minutes" value={minutes} onInput={(e) => setMinutes((e.target as HTMLInputElement).value)} />
        </label>
      )}
      {kind === 'reading' && (
        <label class="field">
          <span class="field-label">{t('log.value')}</span>
          <input type="text" inputMode="decimal" data-testid="log-value" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        </label>
      )}
      <label class="field">
        <span class="field-label">{kind === 'time' ? t('log.timeText') : kind === 'reading' ? t('log.readingText') : t('log.noteText')}</span>
        <textarea rows={2} maxLength={4000} data-testid="log-text" value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      </label>
      {error && <p class="form-error" role="alert">{error}</p>}
      {saved > 0 && !error && (
        <p class="notice notice-ok" role="status" data-testid="log-saved" data-count={saved}>
          {t('log.saved', { count: saved })}
        </p>
      )}
      <button type="submit" class="btn btn-primary btn-block" data-testid="log-save">
        {t('log.save')}
      </button>
    </form>
  );
}

const TECH_FIELDS = ['findings', 'arrival_note', 'departure_note'] as const;

function TechnicianFields({ clientId, job }: { clientId: string; job: JobView }) {
  const [values, setValues] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    setValues({ findings: job.findings, arrival_note: job.arrival_note, departure_note: job.departure_note });
  }, [job.id, job.version]);
  const changed = Object.fromEntries(TECH_FIELDS.filter((name) => (values[name] ?? '') !== (job[name] ?? '')).map((name) => [name, values[name] ?? '']));
  return (
    <form
      class="card form"
      data-testid="job-fields"
      onSubmit={(event) => {
        event.preventDefault();
        if (Object.keys(changed).length === 0) return;
        void updateJobFields(clientId, job, changed).then(() => setSaved(true));
      }}
    >
      <h2>{t('fields.title')}</h2>
      {TECH_FIELDS.map((name) => (
        <label class="field" key={name}>
          <span class="field-label">{t(`fields.${name}`)}</span>
          <textarea
            rows={name === 'findings' ? 4 : 2}
            maxLength={4000}
            data-testid={`field-${name}`}
            value={values[name] ?? ''}
            onInput={(e) => {
              setSaved(false);
              setValues({ ...values, [name]: (e.target as HTMLTextAreaElement).value });
            }}
          />
        </label>
      ))}
      {saved && Object.keys(changed).length === 0 && (
        <p class="notice notice-ok" role="status" data-testid="fields-saved">
          {t('fields.saved')}
        </p>
      )}
      <button type="submit" class="btn btn-primary btn-block" data-testid="fields-save" disabled={Object.keys(changed).length === 0}>
        {t('fields.save')}
      </button>
    </form>
  );
}

export function PartsScreen({ clientId, id, userId }: { clientId: string; id: string; userId: string }) {
  const locale = useStore(localeStore);
  const detail = useLive(() => jobDetail(clientId, id), [clientId, id]);
  const names = useLive(() => itemNames(), []);
  if (!detail || !names) return <section data-testid="parts" data-state="loading" />;
  const { job } = detail;
  const editable = WORKING.has(job.status);
  return (
    <section data-testid="parts" data-state="ready">
      <div class="screen-head">
        <a href={`/jobs/${job.id}`} class="back" aria-label={t('nav.back')}>
          ‹
        </a>
        <h1 class="screen-title">
          {job.number} · {t('job.partsAndTime')}
        </h1>
      </div>
      <section class="card" data-testid="parts-used">
        <h2>{t('parts.used')}</h2>
        {detail.parts.length === 0 && <p class="muted">{t('parts.noneUsed')}</p>}
        <ul class="plain">
          {detail.parts.map((part) => (
            <li key={part.move_id} data-testid="part-used" data-pending={part.pending ? '1' : '0'}>
              {part.spare_asset_id
                ? t('parts.swapLine', { serial: part.removed_serial || '?' })
                : `${formatNumber(part.qty, locale)} × ${names.get(part.item_id) ?? part.item_id}${part.size ? ` (${part.size})` : ''}`}
              <span class="muted"> {formatDateTime(part.at, locale)}</span>
              {part.pending && <span class="chip chip-pending">{t('common.pending')}</span>}
            </li>
          ))}
        </ul>
        <p class="hint">{t('parts.onlyThisPhone')}</p>
      </section>
      {editable ? (
        <>
          <PartPicker clientId={clientId} job={job} userId={userId} />
          <SpareSwap clientId={clientId} job={job} userId={userId} />
          <TimeAndNotes clientId={clientId} job={job} />
          <TechnicianFields clientId={clientId} job={job} />
        </>
      ) : (
        <p class="notice">{t('parts.notWorking')}</p>
      )}
    </section>
  );
}

export default PartsScreen;
