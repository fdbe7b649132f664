import { useEffect, useState } from 'preact/hooks';
import { ApiError, OfflineError } from '../api';
import { type CachedCustody, type CustodyAsset, cachedCustody, groupByKit, refreshCustody } from '../custody';
import { localeStore, t } from '../i18n';
import { onlineStore } from '../net';
import { useStore } from '../store';

function formatDate(iso: string, locale: string): string {
  return new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'short', day: 'numeric' }).format(new Date(iso));
}

function formatTime(epochMs: number, locale: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(epochMs));
}

function AssetLine({ asset, locale }: { asset: CustodyAsset; locale: string }) {
  return (
    <div class="custody-asset" data-testid="custody-asset" data-serial={asset.serial} data-overdue={asset.overdue ? '1' : '0'}>
      <span class="custody-name">{asset.item_name}</span>
      <span class="custody-serial">{asset.serial}</span>
      {asset.due_at && (
        <span class={`chip ${asset.overdue ? 'chip-danger' : ''}`}>
          {t(asset.overdue ? 'custody.overdueOn' : 'custody.dueOn', {
            kind: t(`custody.due.${asset.due_kind ?? 'maintenance'}` as 'custody.due.maintenance'),
            date: formatDate(asset.due_at, locale),
          })}
        </span>
      )}
      {asset.return_due_at && (
        <span class={`chip ${asset.overdue ? 'chip-danger' : ''}`}>
          {t('custody.returnBy', { date: formatDate(asset.return_due_at, locale) })}
        </span>
      )}
    </div>
  );
}

/** What I hold: my van, my toolbox and tools with their due dates, uniforms and stock. */
export function CustodyCard({ userId, actions = false }: { userId: string; actions?: boolean }) {
  const online = useStore(onlineStore);
  const locale = useStore(localeStore);
  const [state, setState] = useState<CachedCustody | null>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let live = true;
    void cachedCustody(userId).then((cached) => {
      if (live && cached) setState((current) => current ?? cached);
    });
    if (online) {
      refreshCustody(userId)
        .then((fresh) => live && (setState(fresh), setFailed(false)))
        .catch((error: unknown) => {
          if (!live) return;
          if (error instanceof OfflineError || error instanceof ApiError) setFailed(true);
          else throw error;
        });
    }
    return () => {
      live = false;
    };
  }, [userId, online]);

  if (!state) {
    return (
      <section class="card custody" data-testid="custody-card" data-state={failed || !online ? 'unavailable' : 'loading'}>
        <h2>{t('custody.title')}</h2>
        <p class="muted">{failed || !online ? t('custody.unavailable') : t('boot.loading')}</p>
        {actions && <OpenCustody />}
      </section>
    );
  }
  const { custody, fetchedAt } = state;
  const empty = !custody.vehicle && custody.assets.length === 0 && custody.stock.length === 0;
  return (
    <section class="card custody" data-testid="custody-card" data-state="ready">
      <h2>{t('custody.title')}</h2>
      <p class="muted" data-testid="custody-updated">
        {t('custody.updated', { time: formatTime(fetchedAt, locale) })}
      </p>
      {custody.overdue_count > 0 && (
        <p class="notice notice-danger" data-testid="custody-overdue">
          {t('custody.overdueCount', { count: custody.overdue_count })}
        </p>
      )}
      {custody.handovers_in.length > 0 && (
        <p class="notice" data-testid="custody-handovers">
          {t('custody.handoversWaiting', { count: custody.handovers_in.length })}
        </p>
      )}
      {empty && <p>{t('custody.empty')}</p>}
      {custody.vehicle && (
        <div class="custody-group" data-testid="custody-vehicle">
          <h3>{t('custody.vehicle')}</h3>
          <AssetLine asset={custody.vehicle} locale={locale} />
        </div>
      )}
      {custody.assets.length > 0 && (
        <div class="custody-group">
          <h3>{t('custody.tools')}</h3>
          {groupByKit(custody.assets).map(({ asset, contents }) => (
            <div key={asset.id}>
              <AssetLine asset={asset} locale={locale} />
              {contents.length > 0 && (
                <div class="custody-kit">
                  {contents.map((child) => (
                    <AssetLine key={child.id} asset={child} locale={locale} />
                  ))}
                </div>
              )}
            </div>
          ))}
        </div>
      )}
      {custody.stock.length > 0 && (
        <div class="custody-group">
          <h3>{t('custody.stock')}</h3>
          <table class="custody-stock">
            <tbody>
              {custody.stock.map((line) => (
                <tr key={`${line.sku}/${line.size}`} data-testid="custody-stock-row" data-sku={line.sku} data-size={line.size}>
                  <td>
                    {line.item_name}
                    {line.size && <span class="chip">{t('custody.size', { size: line.size })}</span>}
                  </td>
                  <td class="num">
                    {new Intl.NumberFormat(locale).format(line.qty)} {line.unit}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {actions && <OpenCustody />}
    </section>
  );
}

/** The technician's custody screen, where things are checked out, returned and handed over. */
function OpenCustody() {
  return (
    <a class="btn btn-secondary btn-block custody-open" href="/custody" data-testid="open-custody">
      {t('custody.open')}
    </a>
  );
}
