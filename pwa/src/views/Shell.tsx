import { useEffect } from 'preact/hooks';
import { logout } from '../auth';
import { clientIdFor, type Session } from '../db';
import { isMessageKey, t } from '../i18n';
import { onlineStore } from '../net';
import { refreshPushSubscription } from '../push';
import { offlineReadyStore } from '../pwa';
import { useStore } from '../store';
import { CustodyCard } from './CustodyCard';
import { LangSwitch } from './LangSwitch';
import { Logo } from './Logo';
import { NetStatus } from './NetStatus';
import { NotificationsCard } from './NotificationsCard';

export function roleLabel(role: string): string {
  const key = `role.${role}`;
  return isMessageKey(key) ? t(key) : role;
}

function welcomeText(role: string): string {
  const key = `welcome.${role}`;
  return isMessageKey(key) ? t(key) : t('welcome.other');
}

export function Shell({ session }: { session: Session }) {
  const online = useStore(onlineStore);
  const offlineReady = useStore(offlineReadyStore);
  const { user } = session;

  // Once per login shown (a fresh one or one restored on start): if this device is subscribed, the
  // server hears of it again for whoever is logged in now. Never prompts; offline it waits for next time.
  useEffect(() => {
    void clientIdFor(user.username)
      .then((clientId) => refreshPushSubscription(clientId))
      .catch(() => undefined);
  }, [user.id]);

  const onLogout = () => {
    if (!online && !window.confirm(t('shell.logoutOfflineConfirm'))) return;
    void logout();
  };

  return (
    <div class="shell" data-testid="app-shell">
      <header class="header">
        <div class="appbar">
          <div class="brand">
            <Logo size={32} />
            <span class="brand-name">{t('app.name')}</span>
          </div>
          <button type="button" class="btn btn-ghost" data-testid="logout" onClick={onLogout}>
            {t('shell.logout')}
          </button>
        </div>
        <div class="userbar">
          <div class="user-info">
            <span class="user-name" data-testid="shell-user-name">{user.display_name}</span>
            <span class="user-meta">
              <span class="role-chip" data-testid="shell-user-role" data-role={user.role}>
                {roleLabel(user.role)}
              </span>
              {session.teamName && <span class="team">{t('shell.team', { name: session.teamName })}</span>}
            </span>
          </div>
          <div class="userbar-controls">
            <NetStatus />
            <LangSwitch />
          </div>
        </div>
      </header>

      {!online && (
        <div class="banner banner-offline" role="status">
          {t('shell.offlineBanner')}
        </div>
      )}

      <main class="content">
        <section class="card welcome">
          <h1>{t('welcome.hello', { name: user.display_name })}</h1>
          <p class="welcome-next">{welcomeText(user.role)}</p>
          {user.must_change_password && <p class="notice">{t('shell.mustChangePassword')}</p>}
          {offlineReady && <p class="offline-ready">{t('shell.offlineReady')}</p>}
        </section>
        {(user.role === 'technician' || user.role === 'supervisor') && <CustodyCard userId={user.id} />}
        <NotificationsCard username={user.username} />
      </main>
    </div>
  );
}
