import { useEffect, useState } from 'preact/hooks';
import type { LoginNotice } from '../auth';
import { login } from '../auth';
import { t } from '../i18n';
import { onlineStore } from '../net';
import { useStore } from '../store';
import { LangSwitch } from './LangSwitch';
import { loginErrorMessage, type LoginErrorMessage } from './loginError';
import { Logo } from './Logo';
import { NetStatus } from './NetStatus';

export function Login({ notice }: { notice?: LoginNotice }) {
  const online = useStore(onlineStore);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [showPassword, setShowPassword] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<LoginErrorMessage | null>(null);
  const [now, setNow] = useState(Date.now());

  // Count the throttling wait down, so the technician sees when to try again.
  useEffect(() => {
    if (!error?.retryAt) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [error]);

  const secondsLeft = error?.retryAt ? Math.max(0, Math.ceil((error.retryAt - now) / 1000)) : 0;
  const throttled = secondsLeft > 0;

  const onSubmit = async (event: Event) => {
    event.preventDefault();
    if (busy || throttled) return;
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
    } catch (failure) {
      const message = loginErrorMessage(failure);
      setNow(Date.now());
      setError(message);
      if (message.key === 'login.error.BAD_CREDENTIALS') setPassword('');
    } finally {
      setBusy(false);
    }
  };

  let errorText: string | null = null;
  if (error) {
    if (error.retryAt && !throttled) errorText = null;
    else errorText = t(error.key, error.retryAt ? { seconds: secondsLeft } : error.params);
  }

  return (
    <div class="login-page">
      <div class="login-top">
        <NetStatus />
        <LangSwitch />
      </div>
      <main class="login-card">
        <div class="login-brand">
          <Logo size={64} />
          <div>
            <div class="brand-name">{t('app.name')}</div>
            <div class="brand-tagline">{t('app.tagline')}</div>
          </div>
        </div>
        <h1 class="login-title">{t('login.title')}</h1>
        {notice === 'sessionEnded' && !error && <p class="notice">{t('login.sessionEnded')}</p>}
        {notice === 'deviceRevoked' && !error && (
          <p class="notice notice-danger" data-testid="login-revoked">
            {t('login.deviceRevoked')}
          </p>
        )}
        <form data-testid="login-form" class="form" onSubmit={onSubmit}>
          <label class="field">
            <span class="field-label">{t('login.username')}</span>
            <input
              data-testid="login-username"
              name="username"
              type="text"
              autocomplete="username"
              autocapitalize="none"
              autocorrect="off"
              spellcheck={false}
              enterkeyhint="next"
              required
              maxLength={200}
              value={username}
              onInput={(e) => setUsername((e.currentTarget as HTMLInputElement).value)}
            />
          </label>
          <label class="field">
            <span class="field-label">{t('login.password')}</span>
            <input
              data-testid="login-password"
              name="password"
              // Preact 11 types a password input apart from a text one; this one toggles between them.
              type={(showPassword ? 'text' : 'password') as 'password'}
              autocomplete="current-password"
              enterkeyhint="go"
              required
              maxLength={200}
              value={password}
              onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
            />
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={showPassword}
              onChange={(e) => setShowPassword((e.currentTarget as HTMLInputElement).checked)}
            />
            <span>{t('login.showPassword')}</span>
          </label>
          {errorText && (
            <p class="form-error" data-testid="login-error" role="alert">
              {errorText}
            </p>
          )}
          <button data-testid="login-submit" class="btn btn-primary btn-block" type="submit" disabled={busy || throttled}>
            {busy ? t('login.submitting') : t('login.submit')}
          </button>
        </form>
        <p class={`hint ${online ? '' : 'hint-offline'}`}>{t('login.firstTimeHint')}</p>
      </main>
    </div>
  );
}
