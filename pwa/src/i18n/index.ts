/** Messages, the current locale (observable), and how the first locale is chosen. */
import type { Locale } from '../db';
import { createStore } from '../store';
import { en, type MessageKey } from './en';
import { zhCN } from './zh-CN';

export type { Locale } from '../db';
export type { MessageKey } from './en';

export const LOCALES: readonly Locale[] = ['zh-CN', 'en'];
/** Each language named in itself, so anyone can find their own. */
export const LOCALE_NAMES: Record<Locale, string> = { 'zh-CN': '简体中文', en: 'English' };

export const catalogs: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN };

export type Params = Record<string, string | number>;

export const localeStore = createStore<Locale>('en');

/** Replaces `{name}` with `params.name`; unknown placeholders stay visible rather than vanish. */
export function format(template: string, params?: Params): string {
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
  );
}

export function translate(locale: Locale, key: MessageKey, params?: Params): string {
  return format(catalogs[locale][key] ?? catalogs.en[key] ?? key, params);
}

export function t(key: MessageKey, params?: Params): string {
  return translate(localeStore.get(), key, params);
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(en, key);
}

/** 'zh', 'zh-CN', 'zh-Hans-CN', … → 'zh-CN'; 'en-GB' → 'en'; anything else → null. */
export function toLocale(tag: string | null | undefined): Locale | null {
  if (!tag) return null;
  const lower = tag.toLowerCase();
  if (lower === 'zh' || lower.startsWith('zh-') || lower.startsWith('zh_')) return 'zh-CN';
  if (lower === 'en' || lower.startsWith('en-') || lower.startsWith('en_')) return 'en';
  return null;
}

/** The stored choice, else the user's locale, else the browser's language if Chinese, else English. */
export function resolveLocale(choice: {
  pref?: Locale | null;
  userLocale?: string | null;
  browserLanguage?: string | null;
}): Locale {
  return (
    choice.pref ??
    toLocale(choice.userLocale) ??
    (choice.browserLanguage?.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en')
  );
}

/** Makes `locale` current: messages, `<html lang>`. Persisting the choice is the caller's job. */
export function applyLocale(locale: Locale): void {
  localeStore.set(locale);
  if (typeof document !== 'undefined') document.documentElement.lang = locale;
}
