import { describe, expect, it } from 'vitest';
import { en } from './en';
import { zhCN } from './zh-CN';
import { applyLocale, format, localeStore, resolveLocale, t, toLocale, translate } from './index';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('catalogs', () => {
  it('have exactly the same keys in en and zh-CN', () => {
    expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort());
  });

  it('have no empty message', () => {
    for (const [key, text] of [...Object.entries(en), ...Object.entries(zhCN)]) {
      expect(text.trim(), key).not.toBe('');
    }
  });

  it('use the same placeholders in both languages', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(zhCN[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it('really translate (zh-CN is not a copy of en)', () => {
    expect(zhCN['login.submit']).not.toBe(en['login.submit']);
    expect(zhCN['role.technician']).toBe('技术员');
  });
});

describe('format and t', () => {
  it('substitutes named parameters, repeated ones included', () => {
    expect(format('{a} and {b} and {a}', { a: 1, b: 'two' })).toBe('1 and two and 1');
  });

  it('leaves unknown placeholders visible', () => {
    expect(format('wait {seconds} s', {})).toBe('wait {seconds} s');
    expect(format('wait {seconds} s')).toBe('wait {seconds} s');
  });

  it('translates in the current locale', () => {
    applyLocale('en');
    expect(t('login.error.TOO_MANY_REQUESTS', { seconds: 42 })).toBe('Too many attempts. Try again in 42 seconds.');
    applyLocale('zh-CN');
    expect(localeStore.get()).toBe('zh-CN');
    expect(t('login.error.TOO_MANY_REQUESTS', { seconds: 42 })).toBe('尝试次数过多，请 42 秒后再试。');
    expect(translate('en', 'shell.team', { name: 'North' })).toBe('Team: North');
    applyLocale('en');
  });
});

describe('choosing the locale', () => {
  it('maps language tags', () => {
    expect(toLocale('zh')).toBe('zh-CN');
    expect(toLocale('zh-Hans-CN')).toBe('zh-CN');
    expect(toLocale('ZH-tw')).toBe('zh-CN');
    expect(toLocale('en-GB')).toBe('en');
    expect(toLocale('fr-FR')).toBeNull();
    expect(toLocale(undefined)).toBeNull();
  });

  it('prefers the stored choice, then the user, then the browser, then English', () => {
    expect(resolveLocale({ pref: 'en', userLocale: 'zh-CN', browserLanguage: 'zh-CN' })).toBe('en');
    expect(resolveLocale({ pref: null, userLocale: 'zh-CN', browserLanguage: 'en-US' })).toBe('zh-CN');
    expect(resolveLocale({ pref: null, userLocale: 'en', browserLanguage: 'zh-CN' })).toBe('en');
    expect(resolveLocale({ browserLanguage: 'zh-HK' })).toBe('zh-CN');
    expect(resolveLocale({ browserLanguage: 'de-DE' })).toBe('en');
    expect(resolveLocale({})).toBe('en');
  });
});
