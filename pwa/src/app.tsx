import { authStore } from './auth';
import { localeStore, t } from './i18n';
import { useStore } from './store';
import { Login } from './views/Login';
import { Shell } from './views/Shell';
import { UpdateToast } from './views/UpdateToast';

export function App() {
  useStore(localeStore); // every message re-renders on a language switch
  const auth = useStore(authStore);
  return (
    <>
      {auth.status === 'loading' && <div class="boot">{t('boot.loading')}</div>}
      {auth.status === 'anonymous' && <Login notice={auth.notice} />}
      {auth.status === 'signedIn' && <Shell session={auth.session} />}
      <UpdateToast />
    </>
  );
}
