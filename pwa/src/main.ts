import './styles.css';
import { h, render } from 'preact';
import { App } from './app';
import { confirmSession, startAuth } from './auth';
import { getLocale, loadSession } from './db';
import { applyLocale, resolveLocale } from './i18n';
import { watchNetwork } from './net';
import { registerServiceWorker } from './pwa';

async function main(): Promise<void> {
  registerServiceWorker();
  // A login found offline is confirmed with the server when the network returns.
  watchNetwork(() => void confirmSession());

  // Local data first: the language and the stored login, no network involved.
  const [pref, session] = await Promise.all([
    getLocale().catch(() => null),
    loadSession().catch(() => null),
  ]);
  applyLocale(resolveLocale({ pref, userLocale: session?.user.locale, browserLanguage: navigator.language }));

  const root = document.getElementById('app');
  if (!root) throw new Error('index.html has no #app');
  root.replaceChildren();
  render(h(App, null), root);
  await startAuth(session);
}

void main();
