/** A photo's thumbnail: the phone's own copy when it has one, else the server's (fetched with the login's token). */
import { useEffect, useState } from 'preact/hooks';
import { apiFetchBlob } from '../api';
import { db, type BlobRecord } from '../db';
import { t } from '../i18n';

export function Thumb({
  record,
  sha256,
  serverUrl,
  onDiscard,
}: {
  record?: BlobRecord;
  sha256: string;
  serverUrl?: string | null;
  onDiscard?: () => void;
}) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let made: string | null = null;
    let live = true;
    if (record?.thumb) {
      made = URL.createObjectURL(new Blob([record.thumb], { type: 'image/jpeg' }));
      setUrl(made);
    } else if (record?.kept) {
      // No thumbnail could be made (an unusual format): the original, read only here.
      void db.originals.get(record.sha256).then((original) => {
        if (!live || !original) return;
        made = URL.createObjectURL(new Blob([original.bytes], { type: record.type }));
        setUrl(made);
      });
    } else if (serverUrl && navigator.onLine) {
      void apiFetchBlob(serverUrl)
        .then((blob) => {
          if (!live) return;
          made = URL.createObjectURL(blob);
          setUrl(made);
        })
        .catch(() => undefined);
    }
    return () => {
      live = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [record?.sha256, record?.thumb, serverUrl]);
  const state = record ? record.state : 'server';
  return (
    <span class="thumb" data-testid="thumb" data-sha256={sha256} data-state={state}>
      {url ? <img src={url} alt={t('photo.alt')} width={96} height={96} /> : <span class="thumb-empty">{t('photo.alt')}</span>}
      {record && record.state !== 'uploaded' && <span class="thumb-badge">{t(`photo.state.${record.state}` as 'photo.state.pending')}</span>}
      {onDiscard && (
        <button type="button" class="thumb-remove" aria-label={t('photo.discard')} onClick={onDiscard}>
          ×
        </button>
      )}
    </span>
  );
}
