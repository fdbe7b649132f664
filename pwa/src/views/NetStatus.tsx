import { t } from '../i18n';
import { onlineStore } from '../net';
import { useStore } from '../store';

export function NetStatus() {
  const online = useStore(onlineStore);
  return (
    <span
      class={`net-status ${online ? 'is-online' : 'is-offline'}`}
      data-testid="net-status"
      data-online={online ? 'true' : 'false'}
      role="status"
    >
      <span class="net-dot" aria-hidden="true" />
      {online ? t('net.online') : t('net.offline')}
    </span>
  );
}
