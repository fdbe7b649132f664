/**
 * What I hold, and moving it: check out from the depot (a serial typed or read from a barcode photo, or
 * a quantity and size), return with its condition (a note and photos when damaged or lost), hand over to
 * a colleague, and answer the hand-overs waiting for me. All offline, through the outbox (custody
 * movements are facts: the server accepts them and raises an exception when they contradict it).
 */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { answerHandover, checkOut, handOver, returnCustody, type CustodyThing } from '../../data/actions';
import { useLive } from '../../data/live';
import { custodyView, type CustodyAssetLine, type CustodyQtyLine, type CustodyView, type HandoverView } from '../../data/queries';
import { localeStore, t } from '../../i18n';
import { useStore } from '../../store';
import { formatDay, formatNumber } from '../../ui/format';

type Target = { kind: 'asset'; line: CustodyAssetLine } | { kind: 'qty'; line: CustodyQtyLine };
type Action = 'return' | 'handover';
/** The server keeps at most 10 photos with a damaged or lost return (docs/SYNC.md). */
const MAX_RETURN_PHOTOS = 10;

const thingOf = (target: Target, qty: number): CustodyThing =>
  target.kind === 'asset' ? { asset_id: target.line.id } : { item_id: target.line.item_id, qty, size: target.line.size };

function DueChip({ line, locale }: { line: CustodyAssetLine; locale: string }) {
  if (!line.due_at && !line.return_due_at) return null;
  const date = line.return_due_at ?? line.due_at!;
  const kind = line.return_due_at ? t('custody.return') : t(`custody.due.${line.service_kind}` as 'custody.due.maintenance');
  return (
    <span class={`chip ${line.overdue ? 'chip-danger' : ''}`} data-testid="due-chip" data-overdue={line.overdue ? '1' : '0'}>
      {t(line.overdue ? 'custody.overdueOn' : 'custody.dueOn', { kind, date: formatDay(date, locale) })}
    </span>
  );
}

function MovePanel({
  target,
  action,
  view,
  clientId,
  onDone,
}: {
  target: Target;
  action: Action;
  view: CustodyView;
  clientId: string;
  onDone: (message: string) => void;
}) {
  const [qty, setQty] = useState(target.kind === 'qty' ? Math.min(1, target.line.qty) || 1 : 1);
  const [to, setTo] = useState(action === 'return' ? (view.depots.find((d) => d.kind === 'depot')?.id ?? '') : (view.colleagues[0]?.id ?? ''));
  const [condition, setCondition] = useState<'ok' | 'damaged' | 'lost'>('ok');
  const [note, setNote] = useState('');
  const [photos, setPhotos] = useState<File[]>([]);
  const [error, setError] = useState<string | null>(null);
  const name = target.kind === 'asset' ? `${target.line.name} · ${target.line.serial}` : target.line.name;

  const save = async () => {
    setError(null);
    if (!to) return setError(t(action === 'return' ? 'custody.chooseLocation' : 'custody.chooseColleague'));
    if (action === 'return' && condition !== 'ok' && !note.trim()) return setError(t('custody.noteRequired'));
    if (action === 'return') await returnCustody(clientId, thingOf(target, qty), to, condition, { note, photos });
    else await handOver(clientId, thingOf(target, qty), to, note);
    onDone(t(action === 'return' ? 'custody.returnRecorded' : 'custody.handoverRecorded', { name }));
  };

  return (
    <div class="form move-panel" data-testid={`${action}-panel`}>
      <p class="strong">{name}</p>
      {target.kind === 'qty' && (
        <label class="field">
          <span class="field-label">{t('parts.qty')}</span>
          <input type="number" inputMode="numeric" min={1} max={target.line.qty} data-testid="move-qty" value={qty} onInput={(e) => setQty(Math.max(1, Math.floor(Number((e.target as HTMLInputElement).value) || 1)))} />
        </label>
      )}
      {action === 'return' ? (
        <>
          <label class="field">
            <span class="field-label">{t('custody.returnTo')}</span>
            <select data-testid="return-to" value={to} onChange={(e) => setTo((e.target as HTMLSelectElement).value)}>
              {view.depots.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
            </select>
          </label>
          <div class="segmented" role="radiogroup" aria-label={t('custody.condition')}>
            {(['ok', 'damaged', 'lost'] as const).map((c) => (
              <button key={c} type="button" role="radio" aria-checked={condition === c ? 'true' : 'false'} class={`btn ${condition === c ? 'btn-primary' : 'btn-secondary'}`} data-testid={`condition-${c}`} onClick={() => setCondition(c)}>
                {t(`custody.condition.${c}`)}
              </button>
            ))}
          </div>
          {condition !== 'ok' && (
            <label class="btn btn-secondary photo-btn">
              <span>{photos.length ? t('custody.photos', { count: photos.length }) : t('step.takePhoto')}</span>
              <input class="visually-hidden" type="file" accept="image/*" capture="environment" multiple data-testid="return-photo" onChange={(e) => setPhotos([...photos, ...((e.target as HTMLInputElement).files ?? [])].slice(0, MAX_RETURN_PHOTOS))} />
            </label>
          )}
        </>
      ) : (
        <label class="field">
          <span class="field-label">{t('custody.handoverTo')}</span>
          {view.colleagues.length === 0 ? (
            <span class="hint">{t('custody.noColleagues')}</span>
          ) : (
            <select data-testid="handover-to" value={to} onChange={(e) => setTo((e.target as HTMLSelectElement).value)}>
              {view.colleagues.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          )}
        </label>
      )}
      <label class="field">
        <span class="field-label">{action === 'return' && condition !== 'ok' ? t('custody.whatHappened') : t('step.note')}</span>
        <textarea rows={2} maxLength={2000} data-testid="move-note" value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
      </label>
      {error && <p class="form-error" role="alert">{error}</p>}
      <button type="button" class="btn btn-primary btn-block" data-testid={`${action}-save`} onClick={() => void save()}>
        {t(action === 'return' ? 'custody.returnSave' : 'custody.handoverSave')}
      </button>
    </div>
  );
}

function AssetRow({ line, locale, onPick }: { line: CustodyAssetLine; locale: string; onPick: (a: Action) => void }) {
  return (
    <li class="custody-line" data-testid="held-asset" data-serial={line.serial} data-pending={line.pending ?? ''}>
      <span class="custody-name">
        {line.name} <span class="custody-serial">{line.serial}</span>
      </span>
      <DueChip line={line} locale={locale} />
      {line.pending ? (
        <span class="chip chip-pending">{t(`custody.pending.${line.pending}` as 'custody.pending.custody.return')}</span>
      ) : (
        <span class="row">
          <button type="button" class="btn btn-secondary" data-testid="pick-return" onClick={() => onPick('return')}>
            {t('custody.return')}
          </button>
          <button type="button" class="btn btn-secondary" data-testid="pick-handover" onClick={() => onPick('handover')}>
            {t('custody.handover')}
          </button>
        </span>
      )}
    </li>
  );
}

function Incoming({ handover, clientId }: { handover: HandoverView; clientId: string }) {
  const [declining, setDeclining] = useState(false);
  const [reason, setReason] = useState('');
  return (
    <li class="custody-line" data-testid="handover-in" data-answered={handover.answered ?? ''}>
      <span class="strong">{t('custody.handoverFrom', { name: handover.from_user || '?', what: handover.what })}</span>
      {handover.qty > 1 && <span>× {handover.qty}</span>}
      {handover.note && <span class="muted">{handover.note}</span>}
      {handover.answered ? (
        <span class="chip chip-pending">{t(handover.answered === 'custody.accept' ? 'custody.accepted' : 'custody.declined')}</span>
      ) : declining ? (
        <span class="form">
          <label class="field">
            <span class="field-label">{t('custody.declineReason')}</span>
            <textarea rows={2} maxLength={2000} data-testid="decline-reason" value={reason} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} />
          </label>
          <span class="row">
            <button type="button" class="btn btn-secondary" onClick={() => setDeclining(false)}>
              {t('common.cancel')}
            </button>
            <button type="button" class="btn btn-danger" data-testid="decline-save" onClick={() => void answerHandover(clientId, handover.id, { accept: false, reason })}>
              {t('custody.decline')}
            </button>
          </span>
        </span>
      ) : (
        <span class="row">
          <button type="button" class="btn btn-secondary" data-testid="decline" onClick={() => setDeclining(true)}>
            {t('custody.decline')}
          </button>
          <button type="button" class="btn btn-secondary" data-testid="accept-van" onClick={() => void answerHandover(clientId, handover.id, { accept: true, toVehicle: true })}>
            {t('custody.acceptVan')}
          </button>
          <button type="button" class="btn btn-primary" data-testid="accept" onClick={() => void answerHandover(clientId, handover.id, { accept: true, toVehicle: false })}>
            {t('custody.accept')}
          </button>
        </span>
      )}
    </li>
  );
}

/** Reads a barcode from a photo where the browser has BarcodeDetector (Chromium on Android); else the serial is typed. */
async function readBarcode(file: File): Promise<string | null> {
  const Detector = (globalThis as { BarcodeDetector?: new () => { detect(image: ImageBitmap): Promise<{ rawValue: string }[]> } }).BarcodeDetector;
  if (!Detector) return null;
  const bitmap = await createImageBitmap(file);
  try {
    const codes = await new Detector().detect(bitmap);
    return codes[0]?.rawValue ?? null;
  } finally {
    bitmap.close();
  }
}

function Checkout({ view, clientId, onDone }: { view: CustodyView; clientId: string; onDone: (message: string) => void }) {
  const locale = useStore(localeStore);
  const [depot, setDepot] = useState(view.depots.find((d) => d.kind === 'depot')?.id ?? '');
  const [search, setSearch] = useState('');
  const [qty, setQty] = useState(1);
  const [toVan, setToVan] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const canScan = typeof (globalThis as { BarcodeDetector?: unknown }).BarcodeDetector === 'function';
  const query = search.trim().toLowerCase();
  const assets = view.depotAssets.filter((a) => a.location_id === depot && (!query || a.serial.toLowerCase().includes(query) || a.name.toLowerCase().includes(query)));
  const stock = view.depotStock.filter((s) => s.location_id === depot && (!query || s.name.toLowerCase().includes(query)));
  const take = async (thing: CustodyThing, name: string) => {
    await checkOut(clientId, thing, depot, toVan && !!view.me.vehicle);
    onDone(t('custody.checkedOut', { name }));
  };
  return (
    <section class="card form" data-testid="checkout">
      <h2>{t('custody.checkoutTitle')}</h2>
      <label class="field">
        <span class="field-label">{t('custody.fromDepot')}</span>
        <select data-testid="checkout-depot" value={depot} onChange={(e) => setDepot((e.target as HTMLSelectElement).value)}>
          {view.depots
            .filter((d) => d.kind === 'depot')
            .map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
        </select>
      </label>
      <label class="field">
        <span class="field-label">{t('custody.serialOrName')}</span>
        <input type="search" data-testid="checkout-search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
      </label>
      {canScan && (
        <label class="btn btn-secondary photo-btn">
          <span>{t('custody.scan')}</span>
          <input
            class="visually-hidden"
            type="file"
            accept="image/*"
            capture="environment"
            onChange={(e) => {
              const file = (e.target as HTMLInputElement).files?.[0];
              if (file) void readBarcode(file).then((code) => (code ? setSearch(code) : setNote(t('custody.noBarcode'))));
            }}
          />
        </label>
      )}
      {note && <p class="hint">{note}</p>}
      {view.me.vehicle && (
        <label class="check">
          <input type="checkbox" checked={toVan} onChange={(e) => setToVan((e.target as HTMLInputElement).checked)} />
          <span>{t('custody.intoVan')}</span>
        </label>
      )}
      <ul class="pick-list">
        {assets.slice(0, 20).map((a) => (
          <li key={a.id}>
            <button type="button" class="pick" data-testid="checkout-asset" data-serial={a.serial} onClick={() => void take({ asset_id: a.id }, `${a.name} · ${a.serial}`)}>
              <span class="strong">{a.name}</span>
              <span class="muted">{a.serial}</span>
            </button>
          </li>
        ))}
        {stock.slice(0, 20).map((s) => (
          <li key={`${s.item_id}/${s.size}`}>
            <button type="button" class="pick" data-testid="checkout-stock" data-size={s.size} onClick={() => void take({ item_id: s.item_id, qty, size: s.size }, `${qty} × ${s.name}${s.size ? ` (${s.size})` : ''}`)}>
              <span class="strong">
                {s.name}
                {s.size && <span class="chip">{t('custody.size', { size: s.size })}</span>}
              </span>
              <span class="num">
                {formatNumber(s.qty, locale)} {s.unit}
              </span>
            </button>
          </li>
        ))}
      </ul>
      {stock.length > 0 && (
        <label class="field">
          <span class="field-label">{t('custody.qtyToTake')}</span>
          <input type="number" inputMode="numeric" min={1} data-testid="checkout-qty" value={qty} onInput={(e) => setQty(Math.max(1, Math.floor(Number((e.target as HTMLInputElement).value) || 1)))} />
        </label>
      )}
    </section>
  );
}

const GROUPS: { key: string; kinds: string[] }[] = [
  { key: 'custody.vehicle', kinds: ['vehicle'] },
  { key: 'custody.tools', kinds: ['tool', 'toolbox'] },
  { key: 'custody.spareUnits', kinds: ['spare_unit'] },
];

export function CustodyScreen({ clientId, userId, teamId }: { clientId: string; userId: string; teamId: string | null }) {
  const locale = useStore(localeStore);
  const view = useLive(() => custodyView(clientId, userId, teamId), [clientId, userId, teamId]);
  const [picked, setPicked] = useState<{ target: Target; action: Action } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [checkingOut, setCheckingOut] = useState(false);
  if (!view) return <section data-testid="custody" data-state="loading" />;
  const done = (text: string) => {
    setPicked(null);
    setCheckingOut(false);
    setMessage(text);
  };
  const panelFor = (id: string) =>
    picked && (picked.target.kind === 'asset' ? picked.target.line.id : `${picked.target.line.item_id}/${picked.target.line.size}`) === id ? (
      <MovePanel target={picked.target} action={picked.action} view={view} clientId={clientId} onDone={done} />
    ) : null;
  return (
    <section data-testid="custody" data-state="ready">
      <h1 class="screen-title">{t('custody.title')}</h1>
      {message && (
        <p class="notice notice-ok" role="status" data-testid="custody-message">
          {message}
        </p>
      )}
      {view.incoming.length > 0 && (
        <section class="card attention" data-testid="handovers-in">
          <h2>{t('custody.incoming')}</h2>
          <ul class="plain">
            {view.incoming.map((h) => (
              <Incoming key={h.id} handover={h} clientId={clientId} />
            ))}
          </ul>
        </section>
      )}
      {view.outgoing.length > 0 && (
        <section class="card" data-testid="handovers-out">
          <h2>{t('custody.outgoing')}</h2>
          <ul class="plain">
            {view.outgoing.map((h) => (
              <li key={h.id}>{t('custody.handoverToName', { name: h.to_user || '?', what: h.what })}</li>
            ))}
          </ul>
        </section>
      )}
      {GROUPS.map(({ key, kinds }) => {
        const lines = view.assets.filter((a) => kinds.includes(a.kind));
        if (lines.length === 0) return null;
        return (
          <section class="card" key={key} data-testid={`held-${kinds[0]}`}>
            <h2>{t(key as 'custody.tools')}</h2>
            <ul class="plain">
              {lines.map((line) => (
                <Fragment key={line.id}>
                  <AssetRow key={line.id} line={line} locale={locale} onPick={(action) => setPicked({ target: { kind: 'asset', line }, action })} />
                  {panelFor(line.id)}
                </Fragment>
              ))}
            </ul>
          </section>
        );
      })}
      {view.stock.length > 0 && (
        <section class="card" data-testid="held-stock">
          <h2>{t('custody.stock')}</h2>
          <ul class="plain">
            {view.stock.map((line) => (
              <Fragment key={`${line.item_id}/${line.size}/${line.location_id}`}>
                <li class="custody-line" data-testid="held-qty" data-size={line.size}>
                  <span class="custody-name">
                    {line.name}
                    {line.size && <span class="chip">{t('custody.size', { size: line.size })}</span>}
                  </span>
                  <span class="num">
                    {formatNumber(line.qty, locale)} {line.unit}
                  </span>
                  <span class="row">
                    <button type="button" class="btn btn-secondary" onClick={() => setPicked({ target: { kind: 'qty', line }, action: 'return' })}>
                      {t('custody.return')}
                    </button>
                    <button type="button" class="btn btn-secondary" onClick={() => setPicked({ target: { kind: 'qty', line }, action: 'handover' })}>
                      {t('custody.handover')}
                    </button>
                  </span>
                </li>
                {panelFor(`${line.item_id}/${line.size}`)}
              </Fragment>
            ))}
          </ul>
        </section>
      )}
      {view.assets.length === 0 && view.stock.length === 0 && <p class="card">{t('custody.empty')}</p>}
      {checkingOut ? (
        <Checkout view={view} clientId={clientId} onDone={done} />
      ) : (
        <button type="button" class="btn btn-primary btn-block bottom-action" data-testid="open-checkout" onClick={() => setCheckingOut(true)}>
          {t('custody.checkoutTitle')}
        </button>
      )}
    </section>
  );
}

export default CustodyScreen;
