import { useEffect } from 'preact/hooks';
import { lazy, LocationProvider, Route, Router } from 'preact-iso';
import { logout } from '../auth';
import { useLive } from '../data/live';
import { pendingCount } from '../data/queries';
import { customerModeStore, loadCustomerMode } from '../customerMode';
import { clientIdFor, type Session } from '../db';
import { isMessageKey, localeStore, t } from '../i18n';
import { onlineStore } from '../net';
import { refreshPushSubscription } from '../push';
import { offlineReadyStore } from '../pwa';
import { useStore } from '../store';
import { clientStore, startSync, stopSync, syncStatusStore } from '../sync/engine';
import { forgetRecords } from '../sync/pull';
import { Today } from './tech/Today';
import { CustodyCard } from './CustodyCard';
import { LangSwitch } from './LangSwitch';
import { Logo } from './Logo';
import { NetStatus } from './NetStatus';
import { NotificationsCard } from './NotificationsCard';

// Every screen but the technician's first loads with its route.
const JobScreen = lazy(() => import('./tech/Job'));
const ProcedureScreen = lazy(() => import('./tech/Procedure'));
const PartsScreen = lazy(() => import('./tech/Parts'));
const WaitingScreen = lazy(() => import('./tech/Waiting'));
const CustomerSignOff = lazy(() => import('./customer/SignOff'));
const ReportScreen = lazy(() => import('./tech/Report'));
const CustodyScreen = lazy(() => import('./tech/Custody'));

/** Roles whose phone keeps a synced scope and an outbox (docs/SYNC.md). */
const SYNCING_ROLES = new Set(['technician']);

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

  const syncing = SYNCING_ROLES.has(user.role);
  const syncProblem = useStore(syncStatusStore).problem;
  const clientId = useStore(clientStore);
  useEffect(() => {
    if (!syncing) return undefined;
    void startSync(user);
    return () => stopSync();
  }, [user.id, syncing]);

  const customerMode = useStore(customerModeStore);
  useEffect(() => {
    void loadCustomerMode();
  }, []);
  const locale = useStore(localeStore);

  const counts = useLive(() => (clientId ? pendingCount(clientId) : Promise.resolve({ pending: 0, attention: 0 })), [clientId]);

  const onLogout = async () => {
    if (!online && !window.confirm(t('shell.logoutOfflineConfirm'))) return;
    // What waits to sync stays on this phone for the same user; say so before signing out.
    const waiting = clientId ? (await pendingCount(clientId)).pending : 0;
    if (waiting > 0 && !window.confirm(t('shell.logoutPendingConfirm', { count: waiting }))) return;
    stopSync();
    await forgetRecords();
    await logout();
  };

  if (syncing && customerMode === undefined) return <div class="boot">{t('boot.loading')}</div>;
  if (syncing && customerMode && clientId) {
    const customerScreen = () => (
      <CustomerSignOff clientId={clientId} jobId={customerMode.jobId} technician={user.display_name} startLocale={locale} />
    );
    // The customer holds the phone: nothing of the technician's but this job's sign-off, whatever the URL.
    return (
      <LocationProvider>
        <main class="content customer-content">
          <Router>
            <Route path="/" component={customerScreen} />
            <Route default component={customerScreen} />
          </Router>
        </main>
      </LocationProvider>
    );
  }

  return (
    <div class="shell" data-testid="app-shell">
      <header class="header">
        <div class="appbar">
          <div class="brand">
            <Logo size={32} />
            <span class="brand-name">{t('app.name')}</span>
          </div>
          <button type="button" class="btn btn-ghost" data-testid="logout" onClick={() => void onLogout()}>
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
      {syncProblem === 'update' && (
        <div class="banner banner-update" role="alert" data-testid="update-required">
          {t('waiting.problem.update')}{' '}
          <button type="button" class="btn btn-secondary" onClick={() => window.location.reload()}>
            {t('update.reload')}
          </button>
        </div>
      )}

      <LocationProvider>
        <main class="content">
          {syncing && clientId ? (
            <Router>
              <Route path="/" component={() => <TechHome clientId={clientId} session={session} offlineReady={offlineReady} />} />
              <Route path="/jobs/:id" component={({ id }: { id: string }) => <JobScreen clientId={clientId} id={id} username={user.username} />} />
              <Route path="/jobs/:id/steps" component={({ id }: { id: string }) => <ProcedureScreen clientId={clientId} id={id} />} />
              <Route path="/jobs/:id/parts" component={({ id }: { id: string }) => <PartsScreen clientId={clientId} id={id} userId={user.id} />} />
              <Route path="/jobs/:id/report" component={({ id }: { id: string }) => <ReportScreen clientId={clientId} jobId={id} />} />
              <Route path="/report" component={() => <ReportScreen clientId={clientId} />} />
              <Route path="/custody" component={() => <CustodyScreen clientId={clientId} userId={user.id} teamId={user.team_id} />} />
              <Route path="/sync" component={() => <WaitingScreen clientId={clientId} />} />
              <Route default component={() => <TechHome clientId={clientId} session={session} offlineReady={offlineReady} />} />
            </Router>
          ) : syncing ? (
            <section data-testid="today" data-state="loading" />
          ) : (
            <OfficeHome session={session} offlineReady={offlineReady} />
          )}
        </main>
        {syncing && <BottomNav pending={counts?.pending ?? 0} attention={counts?.attention ?? 0} />}
      </LocationProvider>
    </div>
  );
}

function SyncBadge() {
  const status = useStore(syncStatusStore);
  return (
    <span class={`sync-badge ${status.running ? 'is-running' : ''}`} data-testid="sync-badge" data-running={status.running ? '1' : '0'} data-problem={status.problem ?? ''}>
      {status.running ? t('waiting.syncing') : ''}
    </span>
  );
}

function BottomNav({ pending, attention }: { pending: number; attention: number }) {
  return (
    <nav class="bottom-nav" aria-label={t('nav.label')}>
      <a href="/" data-testid="nav-today">
        {t('nav.today')}
      </a>
      <a href="/report" data-testid="nav-report">
        {t('nav.report')}
      </a>
      <a href="/sync" data-testid="nav-waiting">
        {t('nav.waiting')}
        {pending > 0 && (
          <span class="badge" data-testid="nav-pending">
            {pending}
          </span>
        )}
        {attention > 0 && (
          <span class="badge badge-danger" data-testid="nav-attention">
            {attention}
          </span>
        )}
      </a>
      <SyncBadge />
    </nav>
  );
}

function TechHome({ clientId, session, offlineReady }: { clientId: string; session: Session; offlineReady: boolean }) {
  const { user } = session;
  return (
    <>
      {user.must_change_password && <p class="notice">{t('shell.mustChangePassword')}</p>}
      <Today clientId={clientId} userId={user.id}>
        <div class="today-more">
          <CustodyCard userId={user.id} actions />
          <NotificationsCard username={user.username} />
          {offlineReady && <p class="offline-ready">{t('shell.offlineReady')}</p>}
        </div>
      </Today>
    </>
  );
}

function OfficeHome({ session, offlineReady }: { session: Session; offlineReady: boolean }) {
  const { user } = session;
  return (
    <>
      <section class="card welcome">
        <h1>{t('welcome.hello', { name: user.display_name })}</h1>
        <p class="welcome-next">{welcomeText(user.role)}</p>
        {user.must_change_password && <p class="notice">{t('shell.mustChangePassword')}</p>}
        {offlineReady && <p class="offline-ready">{t('shell.offlineReady')}</p>}
      </section>
      {(user.role === 'technician' || user.role === 'supervisor') && <CustodyCard userId={user.id} />}
      <NotificationsCard username={user.username} />
    </>
  );
}
