/** 简体中文. Typed against en.ts: a missing or extra key does not compile. */
import type { MessageKey } from './en';

export const zhCN: Record<MessageKey, string> = {
  'app.name': 'FieldQ',
  'app.tagline': '现场服务，在线离线都能用',
  'boot.loading': '正在加载…',

  'lang.label': '语言',

  'login.title': '登录',
  'login.username': '用户名',
  'login.password': '密码',
  'login.submit': '登录',
  'login.submitting': '正在登录…',
  'login.showPassword': '显示密码',
  'login.firstTimeHint': '登录需要网络连接。登录后，FieldQ 在这部手机上无网络也能打开。',
  'login.sessionEnded': '登录已失效，请重新登录。',
  'login.error.BAD_CREDENTIALS': '用户名或密码错误。',
  'login.error.TOO_MANY_REQUESTS': '尝试次数过多，请 {seconds} 秒后再试。',
  'login.error.TOO_MANY_REQUESTS_LATER': '尝试次数过多，请稍后再试。',
  'login.error.ACCOUNT_DEACTIVATED': '该账号已停用，请联系您的主管。',
  'login.error.CLIENT_REVOKED': '此设备已被禁止登录该账号，请联系您的主管。',
  'login.error.OFFLINE': '当前处于离线状态，请连接网络后登录。',
  'login.error.SERVER': '服务器暂时不可用，请稍后再试。',
  'login.error.GENERIC': '登录失败（{code}），请重试。',

  'role.technician': '技术员',
  'role.supervisor': '主管',
  'role.quality': '质量监督',
  'role.manager': '经理',

  'net.online': '在线',
  'net.offline': '离线',

  'shell.logout': '退出登录',
  'shell.logoutOfflineConfirm': '当前处于离线状态。退出后需联网才能重新登录。仍要退出吗？',
  'shell.team': '班组：{name}',
  'shell.offlineBanner': '当前离线。FieldQ 会继续使用这部手机上保存的数据。',
  'shell.offlineReady': '已安装到本设备：无网络也能打开 FieldQ。',
  'shell.mustChangePassword': '管理员要求您修改密码。在此页面提供该功能之前，请联系管理员协助。',

  'welcome.hello': '{name}，您好',
  'welcome.technician': '启用同步后，今天的工单将显示在这里。',
  'welcome.supervisor': '启用同步后，您所带班组的工单和审批将显示在这里。',
  'welcome.quality': '启用同步后，评估、回访和不合格项将显示在这里。',
  'welcome.manager': '启用同步后，班组、工单和库存概览将显示在这里。',
  'welcome.other': '启用同步后，您的工作将显示在这里。',

  'update.available': '有可用更新',
  'update.reload': '重新加载',

  'custody.title': '我保管的物品',
  'custody.updated': '更新于 {time}',
  'custody.unavailable': '尚无离线数据：请联网一次以加载您保管的物品。',
  'custody.empty': '您名下没有领用的物品。',
  'custody.vehicle': '车辆',
  'custody.tools': '工具箱和工具',
  'custody.stock': '工服、备件和耗材',
  'custody.size': '尺码 {size}',
  'custody.dueOn': '{kind}到期：{date}',
  'custody.overdueOn': '{kind}已逾期（{date}）',
  'custody.returnBy': '请于 {date} 前归还',
  'custody.due.calibration': '校准',
  'custody.due.inspection': '检验',
  'custody.due.maintenance': '保养',
  'custody.overdueCount': '{count} 件物品已逾期：请归还或送检。',
  'custody.handoversWaiting': '有 {count} 项移交等待您确认接收。',
};
