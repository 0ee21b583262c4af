# BlueBeanClient — English (en)
# The three files ja.ftl, en.ftl and zh.ftl hold the same message IDs
# (checked by softphone/tests/ui_i18n.rs).

app-title = BlueBean
app-subtitle = Softphone

## Main window (UI-1 … UI-5)
btn-settings = Settings
btn-history = History
btn-dialpad = Dial pad
btn-call = Call
btn-hold = Hold
btn-unhold = Resume
btn-transfer = Transfer
btn-transfer-complete = Complete transfer
btn-transfer-menu = Transfer options
btn-blind-transfer = Blind transfer
btn-hangup = Hang up
btn-backspace = Delete one character
hint-call-dial = Call the number entered
hint-call-answer = Answer the incoming call
hint-transfer = Hold the call and call the number (held transfer)
hint-transfer-complete = Connect the held party to the transfer target
hint-blind-transfer = Transfer to the number without consulting (or Shift+click Transfer)

extension = Ext. { $ext }
status-ready = Ready to dial
status-connecting = Connecting…
status-not-registered = Not registered
status-registration-failed = Cannot register: { $reason }
status-ringing = Ringing { $number }
status-calling = Calling { $number }
status-talking = Talking { $number }
status-on-hold = On hold { $number }
unknown-number = Number withheld

number-field = Number
number-hint = Type or paste a number (Ctrl+V)
number-refused = '{ $ch }' at position { $position } cannot be dialled: only digits and a leading +, * and # (hyphens, spaces, dots and brackets are removed for you)
number-misplaced-plus = '{ $ch }' at position { $position } is only allowed at the start (write an international number as +81312345678)
number-too-long = The number is too long (at most { $max } digits; paste only one number)
number-empty = Enter a number

notice-transferred = Transferred to { $target }
notice-transfer-failed = Transfer to { $target } failed: { $reason }
notice-core-busy = The softphone core is not answering; try again in a moment
notice-core-gone = The softphone core has stopped
notice-reply-error = { $verb }: { $error }
notice-hook-failed = Integration ({ $kind }) failed: { $detail }

## Operator login (UI-6, ACD-1)
op-panel = Operator login
op-login-id = Login ID
op-password = Password
op-login = Log in
op-logout = Log out
op-state-logged-in = Logged in: { $id }
op-state-logged-out = Logged out
op-state-login-failed = Login refused: { $reason }
op-sent = Sent…
lang-ja = 日本語
lang-en = English
lang-zh = 中文
lang-switch = Language

## Settings (UI-7, WEB-1 … WEB-7, CMD-1 … CMD-6)
settings-title = Settings
tab-account = Account
tab-web = Web integration
tab-command = Command integration
tab-other = Other
btn-save = Save
btn-cancel = Cancel
acct-server = Server
acct-user = User (extension)
acct-password = Password
acct-transport = Transport
acct-srtp = Call encryption (SRTP)
acct-srtp-off = Off
acct-srtp-optional = When the other side can
acct-srtp-required = Required
acct-operator-id = BlueBean login ID (%OpId%)
acct-operator-password = BlueBean login PW (%OpPW%)
web-popup = Popup request
web-detail = Detail view
web-method = Method
web-url = URL
web-params = Parameters (one per line)
web-open-on-ring = Open the browser on incoming calls
web-detail-get-only = The detail view is sent with GET only
web-browser = Browser command (empty: the system's default)
skip-internal = Do nothing on internal calls
cmd-on-ring = On ring
cmd-on-answer = On answer
cmd-on-hangup = On hang-up
cmd-params = Insert parameter
cmd-target = Insert into
ph-caller = Caller number
ph-exten = Extension
ph-outline = Own number
ph-callid = Call ID
ph-opid = Login ID
ph-oppw = Login PW
other-audio = Audio devices
other-audio-in = Microphone
other-audio-out = Speaker
other-audio-hint = empty: the system's default
other-codecs = Codec order
other-up = Up
other-down = Down
other-language = Language
other-autostart = Start the softphone with the system
other-handlers = URI handlers (callto: bbclient: tel: sip:)
other-handlers-install = Register
other-handlers-uninstall = Unregister
other-applies-later = Audio device and codec settings apply at the next start
field-required = Required
field-codec-required = Choose at least one codec
other-audio-null = Silence (null)
other-audio-pick = Choose…
field-warning = Note: { $text }
settings-saved = Saved: { $path }
settings-restart = The changes apply after the softphone restarts
settings-save-failed = Could not save: { $error }
settings-has-errors = Some entries are wrong; check the fields marked in red
settings-saved-plain = Saved
settings-in-force = in force for the next call
settings-in-force-except = in force for the next call, except { $keys } (after a restart)
settings-after-restart = { $keys } in force after a restart
settings-nothing-changed = nothing changed
settings-not-applied = not in force: { $errors }

## Popup (WEB-1, WEB-4)
popup-title = Incoming call
popup-from = Call from { $number }
popup-waiting = Waiting for the CRM…
popup-ended = Call ended
popup-details = Details
popup-details-latest-only = Details open for the latest incoming call only
popup-close = Close
popup-failed = The popup could not be fetched: { $detail }

## History (CALL-3)
history-title = Call history
history-direction = Direction
history-number = Number
history-outside-line = Outside line
history-start = Start
history-duration = Duration
history-result = Result
history-incoming = Incoming
history-outgoing = Outgoing
history-empty = No calls yet
history-unavailable = The history cannot be opened: { $error }
history-off = The call history is off ([history] enabled = false)
history-redial = Click to call again
history-close = Close
result-answered = Answered
result-missed = Missed
result-busy = Busy
result-no-answer = No answer
result-rejected = Rejected
result-cancelled = Cancelled
result-transferred = Transferred
result-failed = Failed
btn-mute = Mute
btn-unmute = Unmute
hint-mute = The customer hears silence while muted; the call stays up
btn-dnd = Do not disturb
hint-dnd = Turn new calls away (busy) and be not available to the queues
status-muted = Muted
status-dnd = Do not disturb
other-ring-device = Ring device
other-ring-hint = empty: the speaker
other-ring-on = Ring out loud when a call comes in
other-volume-in = Microphone volume
other-volume-out = Speaker volume
other-volume-ring = Ringtone volume
other-test-tone = Test
hint-test-tone = Play the ringtone on this device for 2 seconds
