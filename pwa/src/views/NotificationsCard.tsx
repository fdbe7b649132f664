import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, OfflineError } from '../api';
import { clientIdFor } from '../db';
import { isMessageKey, t, type MessageKey, type Params } from '../i18n';
import { onlineStore } from '../net';
import {
  enablePush,
  disablePush,
  pushPreferences,
  pushState,
  sendTestPush,
  setMutedKinds,
  type PushKind,
  type PushPreferences,
  type PushState,
} from '../push';
import { useStore } from '../store';

export type CardState = PushState | 'loading';

export interface CardMessage {
  tone: 'ok' | 'error';
  key: MessageKey;
  params?: Params;
}

const STATE_KEYS: Record<CardState, MessageKey> = {
  loading: 'push.state.loading',
  unsupported: 'push.state.unsupported',
  denied: 'push.state.denied',
  off: 'push.state.off',
  on: 'push.state.on',
};

/** The sentence saying where notifications stand on this device. */
export function stateLabelKey(state: CardState): MessageKey {
  return STATE_KEYS[state];
}

/** The muted list with `kind` muted (`mute`) or not: no duplicates, sorted like the server keeps it. */
export function toggleMuted(muted: readonly string[], kind: string, mute: boolean): string[] {
  const rest = muted.filter((k) => k !== kind);
  return (mute ? [...rest, kind] : rest).filter((k, i, all) => all.indexOf(k) === i).sort();
}

/** A kind in the reader's language when we know it, else the server's (English) description. */
export function kindLabel(kind: PushKind): string {
  const key = `push.kind.${kind.kind}`;
  return isMessageKey(key) ? t(key) : kind.description || kind.kind;
}

/**
 * Which kind a 400 refused: the server names the field (`muted[2]`) and quotes the kind in its message.
 * `sent` is the list that was sent.
 */
export function refusedKind(error: ApiError, sent: readonly string[]): string | null {
  const index = /^muted\[(\d+)\]$/.exec(error.field ?? '');
  if (index) {
    const kind = sent[Number(index[1])];
    if (kind !== undefined) return kind;
  }
  return /'([^']+)'/.exec(error.message)?.[1] ?? null;
}

/** What the card says when enabling, disabling, saving or the test failed. */
export function pushErrorMessage(error: unknown, sentMuted?: readonly string[]): CardMessage {
  if (error instanceof OfflineError) return { tone: 'error', key: 'push.error.offline' };
  if (error instanceof ApiError) {
    if (error.status === 400 && sentMuted) {
      const kind = refusedKind(error, sentMuted);
      if (kind) return { tone: 'error', key: 'push.error.badKind', params: { kind } };
    }
    return { tone: 'error', key: 'push.error.server', params: { code: error.code } };
  }
  // The browser's own refusals (DOMException): no permission, or no push service to subscribe with.
  if (error instanceof Error && error.name === 'NotAllowedError') return { tone: 'error', key: 'push.error.denied' };
  return { tone: 'error', key: 'push.error.subscribe' };
}

/** Web Push on this device: on or off, which kinds, and a test. Asks for permission only on a tap. */
export function NotificationsCard({ username }: { username: string }) {
  const online = useStore(onlineStore);
  const [state, setState] = useState<CardState>('loading');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<CardMessage | null>(null);
  const [prefs, setPrefs] = useState<PushPreferences | null>(null);
  const [prefsFailed, setPrefsFailed] = useState(false);
  const [saving, setSaving] = useState(false);
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    pushState()
      .then((s) => mounted.current && setState(s))
      .catch(() => mounted.current && setState('unsupported'));
    return () => {
      mounted.current = false;
    };
  }, []);

  useEffect(() => {
    if (state !== 'on' || !online) return;
    let live = true;
    pushPreferences()
      .then((p) => live && (setPrefs(p), setPrefsFailed(false)))
      .catch(() => live && setPrefsFailed(true));
    return () => {
      live = false;
    };
  }, [state, online]);

  /** Runs one action with the buttons disabled; failures become a message, never an exception. */
  const act = async (task: () => Promise<CardMessage | null>, recheck: boolean) => {
    setBusy(true);
    setMessage(null);
    let next: CardMessage | null;
    try {
      next = await task();
    } catch (error) {
      next = pushErrorMessage(error);
    }
    let current: CardState | null = null;
    if (recheck) current = await pushState().catch(() => null);
    if (!mounted.current) return;
    if (current) setState(current);
    setMessage(next);
    setBusy(false);
  };

  const turnOn = () =>
    act(async () => {
      const clientId = await clientIdFor(username).catch(() => undefined);
      // 'off': the prompt was dismissed, and the card already says notifications are off.
      return (await enablePush(clientId)) === 'denied' ? { tone: 'error', key: 'push.error.denied' } : null;
    }, true);

  const turnOff = () =>
    act(async () => {
      await disablePush();
      setPrefs(null);
      return null;
    }, true);

  const sendTest = () =>
    act(async () => {
      const count = await sendTestPush();
      return count > 0
        ? { tone: 'ok', key: 'push.testSent', params: { count } }
        : { tone: 'error', key: 'push.testNone' };
    }, false);

  const setMuted = async (kind: string, mute: boolean) => {
    if (!prefs) return;
    const muted = toggleMuted(prefs.muted, kind, mute);
    setSaving(true);
    setMessage(null);
    let next: CardMessage;
    try {
      const saved = await setMutedKinds(muted);
      if (!mounted.current) return;
      setPrefs(saved);
      next = { tone: 'ok', key: 'push.saved' };
    } catch (error) {
      next = pushErrorMessage(error, muted);
    }
    if (!mounted.current) return;
    setMessage(next);
    setSaving(false);
  };

  return (
    <section class="card notifications" data-testid="push-card" data-state={state}>
      <h2>{t('push.title')}</h2>
      <p class="muted" data-testid="push-state">
        {t(stateLabelKey(state))}
      </p>

      {state === 'off' && (
        <div class="push-actions">
          <button
            type="button"
            class="btn btn-primary"
            data-testid="push-enable"
            disabled={busy || !online}
            onClick={() => void turnOn()}
          >
            {busy ? t('push.working') : t('push.turnOn')}
          </button>
        </div>
      )}
      {state === 'off' && !online && <p class="muted">{t('push.needsNetwork')}</p>}

      {state === 'on' && (
        <>
          <div class="push-actions">
            <button type="button" class="btn btn-secondary" data-testid="push-test" disabled={busy || !online} onClick={() => void sendTest()}>
              {t('push.test')}
            </button>
            <button type="button" class="btn btn-secondary" data-testid="push-disable" disabled={busy} onClick={() => void turnOff()}>
              {busy ? t('push.working') : t('push.turnOff')}
            </button>
          </div>
          <h3>{t('push.kindsTitle')}</h3>
          {prefs ? (
            <fieldset class="push-kinds" data-testid="push-kinds" disabled={saving || !online}>
              <legend class="visually-hidden">{t('push.kindsTitle')}</legend>
              {prefs.kinds.map((kind) => {
                const muted = prefs.muted.includes(kind.kind);
                return (
                  <label key={kind.kind} class="check push-kind" data-testid="push-kind" data-kind={kind.kind}>
                    <input
                      type="checkbox"
                      checked={!muted}
                      onChange={(event) => void setMuted(kind.kind, !(event.currentTarget as HTMLInputElement).checked)}
                    />
                    <span>{kindLabel(kind)}</span>
                  </label>
                );
              })}
            </fieldset>
          ) : (
            <p class="muted">{prefsFailed || !online ? t('push.kindsUnavailable') : t('boot.loading')}</p>
          )}
          {saving && <p class="muted">{t('push.saving')}</p>}
        </>
      )}

      {message && (
        <p
          class={`push-message ${message.tone === 'ok' ? 'push-message-ok' : 'push-message-error'}`}
          data-testid="push-message"
          data-tone={message.tone}
          role={message.tone === 'error' ? 'alert' : 'status'}
        >
          {t(message.key, message.params)}
        </p>
      )}
    </section>
  );
}
