# BlueBeanClient — 简体中文 (zh)
# The three files ja.ftl, en.ftl and zh.ftl hold the same message IDs
# (checked by softphone/tests/ui_i18n.rs).

app-title = BlueBean
app-subtitle = 软电话

## Main window (UI-1 … UI-5)
btn-settings = 设置
btn-history = 历史记录
btn-dialpad = 拨号盘
btn-call = 通话
btn-hold = 保持
btn-unhold = 取消保持
btn-transfer = 转接
btn-transfer-complete = 完成转接
btn-transfer-menu = 转接选项
btn-blind-transfer = 盲转
btn-hangup = 挂断
btn-backspace = 删除一个字符
hint-call-dial = 拨打输入的号码
hint-call-answer = 接听来电
hint-transfer = 保持当前通话并拨打该号码(咨询转接)
hint-transfer-complete = 将保持中的对方接通到转接目标
hint-blind-transfer = 不经咨询直接转接到该号码(也可Shift+单击转接)

extension = 分机 { $ext }
status-ready = 就绪
status-connecting = 正在连接…
status-not-registered = 未注册
status-registration-failed = 无法注册: { $reason }
status-ringing = 来电 { $number }
status-calling = 正在呼叫 { $number }
status-talking = 通话中 { $number }
status-on-hold = 保持中 { $number }
unknown-number = 未显示号码

number-field = 电话号码
number-hint = 输入或粘贴号码(Ctrl+V)
number-refused = 第{ $position }个字符“{ $ch }”不能用于拨号:只能使用数字以及开头的＋、＊、＃(连字符、空格、点和括号会自动删除)
number-misplaced-plus = 第{ $position }个字符“{ $ch }”只能放在开头(国际号码请写成 +81312345678)
number-too-long = 号码太长(最多{ $max }位,请只粘贴一个号码)
number-empty = 请输入号码

notice-transferred = 已转接到 { $target }
notice-transfer-failed = 转接到 { $target } 失败: { $reason }
notice-core-busy = 软电话核心没有响应,请稍后再试
notice-core-gone = 软电话核心已停止
notice-reply-error = { $verb }: { $error }
notice-hook-failed = 集成({ $kind })失败: { $detail }

## Operator login (UI-6, ACD-1)
op-panel = 坐席登录
op-login-id = 登录ID
op-password = 密码
op-login = 登录
op-logout = 退出登录
op-state-logged-in = 已登录: { $id }
op-state-logged-out = 未登录
op-state-login-failed = 登录失败: { $reason }
op-sent = 已发送…
lang-ja = 日本語
lang-en = English
lang-zh = 中文
lang-switch = 界面语言

## Settings (UI-7, WEB-1 … WEB-7, CMD-1 … CMD-6)
settings-title = 设置
tab-account = 账户设置
tab-web = Web集成设置
tab-command = 命令集成设置
tab-other = 其他设置
btn-save = 保存
btn-cancel = 取消
acct-server = 服务器
acct-user = 用户(分机号)
acct-password = 密码
acct-transport = 传输协议
acct-srtp = 通话加密 (SRTP)
acct-srtp-off = 关闭
acct-srtp-optional = 对方支持时
acct-srtp-required = 必须
acct-operator-id = BlueBean登录ID(%OpId%)
acct-operator-password = BlueBean登录密码(%OpPW%)
web-popup = 弹窗信息设置
web-detail = 详细信息设置
web-method = 发送方式
web-url = 目标URL
web-params = 参数(每行一个)
web-open-on-ring = 来电时打开浏览器
web-detail-get-only = 详细信息仅支持GET方式发送
web-browser = 浏览器命令(留空:系统默认)
skip-internal = 内线通话时不执行
cmd-on-ring = 来电时执行
cmd-on-answer = 接听时执行
cmd-on-hangup = 挂断时执行
cmd-params = 插入参数
cmd-target = 插入到
ph-caller = 对方号码
ph-exten = 分机号
ph-outline = 本公司号码
ph-callid = 呼叫ID
ph-opid = 登录ID
ph-oppw = 登录密码
other-audio = 音频设备
other-audio-in = 麦克风
other-audio-out = 扬声器
other-audio-hint = 留空:系统默认
other-codecs = 编解码器优先顺序
other-up = 上移
other-down = 下移
other-language = 界面语言
other-autostart = 开机时启动软电话
other-handlers = URI处理程序(callto: bbclient: tel: sip:)
other-handlers-install = 注册
other-handlers-uninstall = 取消注册
other-applies-later = 音频设备和编解码器设置将在下次启动时生效
field-required = 必填
field-codec-required = 请至少选择一个编解码器
other-audio-null = 静音 (null)
other-audio-pick = 选择…
field-warning = 注意: { $text }
settings-saved = 已保存: { $path }
settings-restart = 设置的更改将在软电话重启后生效
settings-save-failed = 无法保存: { $error }
settings-has-errors = 部分输入有误,请检查标红的项目
settings-saved-plain = 已保存
settings-in-force = 从下一通电话起生效
settings-in-force-except = 从下一通电话起生效({ $keys } 需重启后生效)
settings-after-restart = { $keys } 将在重启后生效
settings-nothing-changed = 没有更改
settings-not-applied = 未能生效: { $errors }

## Popup (WEB-1, WEB-4)
popup-title = 来电信息
popup-from = 来自 { $number } 的来电
popup-waiting = 正在等待CRM响应…
popup-ended = 通话已结束
popup-details = 详细信息
popup-details-latest-only = 只能打开最新来电的详细信息
popup-close = 关闭
popup-failed = 无法获取弹窗信息: { $detail }

## History (CALL-3)
history-title = 通话记录
history-direction = 方向
history-number = 号码
history-outside-line = 外线
history-start = 开始时间
history-duration = 通话时长
history-result = 结果
history-incoming = 来电
history-outgoing = 去电
history-empty = 暂无通话记录
history-unavailable = 无法打开通话记录: { $error }
history-off = 通话记录已关闭([history] enabled = false)
history-redial = 点击重拨
history-close = 关闭
result-answered = 已接听
result-missed = 未接来电
result-busy = 忙线
result-no-answer = 无应答
result-rejected = 已拒绝
result-cancelled = 已取消
result-transferred = 已转接
result-failed = 失败
btn-mute = 静音
btn-unmute = 取消静音
hint-mute = 静音时客户听到的是无声，通话保持
btn-dnd = 免打扰
hint-dnd = 以忙音拒绝新来电，并在队列中设为不可用
status-muted = 已静音
status-dnd = 免打扰
other-ring-device = 铃声设备
other-ring-hint = 空: 扬声器
other-ring-on = 来电时响铃
other-volume-in = 麦克风音量
other-volume-out = 扬声器音量
other-volume-ring = 铃声音量
other-test-tone = 测试
hint-test-tone = 在此设备上播放铃声 2 秒
