import { useState } from 'preact/hooks';
import { setLocale } from '../db';
import { applyLocale, LOCALE_NAMES, LOCALES, localeStore, t, type Locale } from '../i18n';
import { useStore } from '../store';

/** The language picker: applies at once and remembers the choice on this device. */
export function LangSwitch() {
  const locale = useStore(localeStore);
  // The choice as stored on this device (a reload before the write commits would lose it; tests wait for it).
  const [saved, setSaved] = useState<Locale | null>(null);
  const onChange = (event: Event) => {
    const next = (event.currentTarget as HTMLSelectElement).value as Locale;
    applyLocale(next);
    void setLocale(next)
      .then(() => setSaved(next))
      .catch(() => undefined);
  };
  return (
    <label class="lang-switch">
      <span class="visually-hidden">{t('lang.label')}</span>
      <svg class="lang-icon" viewBox="0 0 24 24" aria-hidden="true">
        <path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm6.9 6h-2.9a15.7 15.7 0 0 0-1.4-3.6A8 8 0 0 1 18.9 8ZM12 4a13.9 13.9 0 0 1 1.9 4h-3.8A13.9 13.9 0 0 1 12 4ZM4.3 14a8.2 8.2 0 0 1 0-4h3.4a16.5 16.5 0 0 0 0 4H4.3Zm.8 2h2.9a15.7 15.7 0 0 0 1.4 3.6A8 8 0 0 1 5.1 16ZM8 8H5.1a8 8 0 0 1 4.3-3.6A15.7 15.7 0 0 0 8 8Zm4 12a13.9 13.9 0 0 1-1.9-4h3.8A13.9 13.9 0 0 1 12 20Zm2.3-6H9.7a14.7 14.7 0 0 1 0-4h4.6a14.7 14.7 0 0 1 0 4Zm.3 5.6a15.7 15.7 0 0 0 1.4-3.6h2.9a8 8 0 0 1-4.3 3.6ZM16.3 14a16.5 16.5 0 0 0 0-4h3.4a8.2 8.2 0 0 1 0 4h-3.4Z" />
      </svg>
      <select data-testid="lang-switch" data-saved={saved ?? ''} value={locale} onChange={onChange} aria-label={t('lang.label')}>
        {LOCALES.map((code) => (
          <option key={code} value={code} lang={code}>
            {LOCALE_NAMES[code]}
          </option>
        ))}
      </select>
    </label>
  );
}
