/** English messages. zh-CN.ts must have exactly these keys (the type checker and a test hold it to that). */
export const en = {
  'app.name': 'FieldQ',
  'app.tagline': 'Field service, online or offline',
  'boot.loading': 'Loading…',

  'lang.label': 'Language',

  'login.title': 'Sign in',
  'login.username': 'Username',
  'login.password': 'Password',
  'login.submit': 'Sign in',
  'login.submitting': 'Signing in…',
  'login.showPassword': 'Show password',
  'login.firstTimeHint': 'Signing in needs a connection. After that, FieldQ opens on this phone without one.',
  'login.sessionEnded': 'Your session has ended. Please sign in again.',
  'login.error.BAD_CREDENTIALS': 'Wrong username or password.',
  'login.error.TOO_MANY_REQUESTS': 'Too many attempts. Try again in {seconds} seconds.',
  'login.error.TOO_MANY_REQUESTS_LATER': 'Too many attempts. Try again later.',
  'login.error.ACCOUNT_DEACTIVATED': 'This account is deactivated. Contact your supervisor.',
  'login.error.CLIENT_REVOKED': 'This device has been blocked for this account. Contact your supervisor.',
  'login.error.OFFLINE': 'You are offline. Connect to the internet to sign in.',
  'login.error.SERVER': 'The server is not available right now. Try again in a moment.',
  'login.error.GENERIC': 'Sign-in failed ({code}). Try again.',

  'role.technician': 'Technician',
  'role.supervisor': 'Supervisor',
  'role.quality': 'Quality supervision',
  'role.manager': 'Manager',

  'net.online': 'Online',
  'net.offline': 'Offline',

  'shell.logout': 'Sign out',
  'shell.logoutOfflineConfirm':
    'You are offline. After signing out you cannot sign in again until you are back online. Sign out anyway?',
  'shell.team': 'Team: {name}',
  'shell.offlineBanner': 'You are offline. FieldQ keeps working with what is stored on this phone.',
  'shell.offlineReady': 'Installed on this device: FieldQ opens without a network.',
  'shell.mustChangePassword': 'Your administrator asked you to change your password. Ask them for help until this screen offers it.',

  'welcome.hello': 'Hello, {name}',
  'welcome.technician': "Today's jobs will appear here once sync is enabled.",
  'welcome.supervisor': "Your teams' jobs and approvals will appear here once sync is enabled.",
  'welcome.quality': 'Evaluations, callbacks and nonconformances will appear here once sync is enabled.',
  'welcome.manager': 'Overviews of teams, jobs and stock will appear here once sync is enabled.',
  'welcome.other': 'Your work will appear here once sync is enabled.',

  'update.available': 'Update available',
  'update.reload': 'Reload',

  'custody.title': 'What I hold',
  'custody.updated': 'As of {time}',
  'custody.unavailable': 'Not available offline yet: connect once to load what you hold.',
  'custody.empty': 'Nothing is checked out to you.',
  'custody.vehicle': 'Vehicle',
  'custody.tools': 'Toolbox and tools',
  'custody.stock': 'Uniforms, parts and consumables',
  'custody.size': 'Size {size}',
  'custody.dueOn': '{kind} due {date}',
  'custody.overdueOn': '{kind} overdue since {date}',
  'custody.returnBy': 'Return by {date}',
  'custody.due.calibration': 'Calibration',
  'custody.due.inspection': 'Inspection',
  'custody.due.maintenance': 'Maintenance',
  'custody.overdueCount': '{count} item(s) overdue: return or service them.',
  'custody.handoversWaiting': '{count} hand-over(s) waiting for you to accept.',
} as const;

export type MessageKey = keyof typeof en;
