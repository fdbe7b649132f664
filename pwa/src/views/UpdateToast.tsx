import { t } from '../i18n';
import { updateStore } from '../pwa';
import { useStore } from '../store';

export function UpdateToast() {
  const apply = useStore(updateStore);
  if (!apply) return null;
  return (
    <div class="toast" data-testid="update-toast" role="status">
      <span>{t('update.available')}</span>
      <button type="button" class="btn btn-primary" onClick={apply}>
        {t('update.reload')}
      </button>
    </div>
  );
}
