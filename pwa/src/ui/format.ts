/** Dates, times and numbers by the chosen language, in the phone's time zone (the company's, on its phones). */
export function formatDateTime(iso: string | number | null | undefined, locale: string): string {
  if (iso === null || iso === undefined || iso === '') return '';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function formatTime(iso: string | null | undefined, locale: string): string {
  if (!iso) return '';
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

export function formatDay(iso: string | null | undefined, locale: string): string {
  if (!iso) return '';
  return new Intl.DateTimeFormat(locale, { weekday: 'short', month: 'short', day: 'numeric' }).format(new Date(iso));
}

export function formatNumber(value: number, locale: string, maxFractionDigits = 2): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: maxFractionDigits }).format(value);
}

export function formatBytes(bytes: number, locale: string): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${formatNumber(value, locale, unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A reading with its unit and limits: "230 V AC (198–242)". */
export function formatLimits(min: number | null, max: number | null, unit: string, locale: string): string {
  const f = (n: number) => formatNumber(n, locale, 3);
  if (min !== null && max !== null) return `${f(min)}–${f(max)} ${unit}`.trim();
  if (min !== null) return `≥ ${f(min)} ${unit}`.trim();
  if (max !== null) return `≤ ${f(max)} ${unit}`.trim();
  return unit;
}
