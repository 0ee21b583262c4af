# BlueBeanClient — 日本語 (ja)
# The three files ja.ftl, en.ftl and zh.ftl hold the same message IDs
# (checked by softphone/tests/ui_i18n.rs).

app-title = BlueBean
app-subtitle = ソフトフォン

## Main window (UI-1 … UI-5)
btn-settings = 設定
btn-history = 履歴
btn-dialpad = ダイヤルパッド
btn-call = 通話
btn-hold = 保留
btn-unhold = 保留解除
btn-transfer = 転送
btn-transfer-complete = 転送完了
btn-transfer-menu = 転送メニュー
btn-blind-transfer = ブラインド転送
btn-hangup = 切断
btn-backspace = 1文字削除
hint-call-dial = 入力した番号に発信します
hint-call-answer = 着信に応答します
hint-transfer = 通話を保留して番号に発信します(保留転送)
hint-transfer-complete = 保留中の相手を転送先につなぎます
hint-blind-transfer = 相談せずに番号へ転送します(Shift+クリックでも可)

extension = 内線 { $ext }
status-ready = ダイヤルできます
status-connecting = 接続中…
status-not-registered = 未登録
status-registration-failed = 登録できません: { $reason }
status-ringing = 着信中 { $number }
status-calling = 発信中 { $number }
status-talking = 通話中 { $number }
status-on-hold = 保留中 { $number }
unknown-number = 番号非通知

number-field = 電話番号
number-hint = 番号を入力または貼り付け(Ctrl+V)
number-refused = 「{ $ch }」({ $position }文字目)は使えません。数字と先頭の＋、＊、＃のみ使えます(ハイフン・空白・点・括弧は自動で削除されます)
number-misplaced-plus = 「{ $ch }」({ $position }文字目)は先頭にしか置けません(国際番号は +81312345678 のように入力)
number-too-long = 番号が長すぎます({ $max }桁まで。番号を1つだけ貼り付けてください)
number-empty = 番号を入力してください

notice-transferred = { $target } へ転送しました
notice-transfer-failed = { $target } への転送に失敗しました: { $reason }
notice-core-busy = ソフトフォン本体が応答しません。しばらくしてからもう一度お試しください
notice-core-gone = ソフトフォン本体が停止しています
notice-reply-error = { $verb }: { $error }
notice-hook-failed = 連携({ $kind })に失敗しました: { $detail }

## Operator login (UI-6, ACD-1)
op-panel = オペレーターログイン
op-login-id = ログインID
op-password = パスワード
op-login = ログイン
op-logout = ログアウト
op-state-logged-in = ログイン中: { $id }
op-state-logged-out = ログアウトしています
op-state-login-failed = ログインできません: { $reason }
op-sent = 送信しました…
lang-ja = 日本語
lang-en = English
lang-zh = 中文
lang-switch = 表示言語

## Settings (UI-7, WEB-1 … WEB-7, CMD-1 … CMD-6)
settings-title = 設定
tab-account = アカウント設定
tab-web = Web連携設定
tab-command = コマンド連携設定
tab-other = その他設定
btn-save = 保存
btn-cancel = キャンセル
acct-server = サーバー
acct-user = ユーザー(内線番号)
acct-password = パスワード
acct-transport = トランスポート
acct-srtp = 通話の暗号化 (SRTP)
acct-srtp-off = オフ
acct-srtp-optional = 相手が対応していれば
acct-srtp-required = 必須
acct-operator-id = BlueBeanログインID(%OpId%)
acct-operator-password = BlueBeanログインPW(%OpPW%)
web-popup = ポップアップ情報設定
web-detail = 詳細情報設定
web-method = 送信メソッド
web-url = 送信先URL
web-params = パラメータ (1パラメータ1行)
web-open-on-ring = 着信時ブラウザ起動
web-detail-get-only = 詳細情報の送信メソッドはGETのみです
web-browser = ブラウザのコマンド(空欄: OSの既定)
skip-internal = 内線通話の場合に動作しない
cmd-on-ring = 着信時アクセス
cmd-on-answer = 応答時アクセス
cmd-on-hangup = 切断時アクセス
cmd-params = パラメータ選択
cmd-target = 挿入先
ph-caller = 相手番号
ph-exten = 内線番号
ph-outline = 自社番号
ph-callid = コールID
ph-opid = ログインID
ph-oppw = ログインPW
other-audio = 音声デバイス
other-audio-in = マイク
other-audio-out = スピーカー
other-audio-hint = 空欄: システムの既定
other-codecs = コーデック優先順位
other-up = 上へ
other-down = 下へ
other-language = 表示言語
other-autostart = システム起動時にソフトフォンを開始する
other-handlers = URIハンドラー(callto: bbclient: tel: sip:)
other-handlers-install = 登録
other-handlers-uninstall = 解除
other-applies-later = 音声デバイスとコーデックの設定は次回起動時に反映されます
field-required = 入力してください
field-codec-required = コーデックを1つ以上選んでください
other-audio-null = 無音 (null)
other-audio-pick = 選択…
field-warning = 注意: { $text }
settings-saved = 保存しました: { $path }
settings-restart = 設定の変更はソフトフォンの再起動後に反映されます
settings-save-failed = 保存できませんでした: { $error }
settings-has-errors = 入力内容に誤りがあります。赤字の項目を確認してください
settings-saved-plain = 保存しました
settings-in-force = 次の通話から有効です
settings-in-force-except = 次の通話から有効です(ただし { $keys } は再起動後に有効)
settings-after-restart = { $keys } は再起動後に有効になります
settings-nothing-changed = 変更はありません
settings-not-applied = 反映できませんでした: { $errors }

## Popup (WEB-1, WEB-4)
popup-title = 着信情報
popup-from = { $number } からの着信
popup-waiting = CRMの応答を待っています…
popup-ended = 通話終了
popup-details = 詳細情報
popup-details-latest-only = 詳細情報は最新の着信についてのみ開けます
popup-close = 閉じる
popup-failed = ポップアップを取得できませんでした: { $detail }

## History (CALL-3)
history-title = 通話履歴
history-direction = 方向
history-number = 番号
history-outside-line = 外線
history-start = 開始
history-duration = 通話時間
history-result = 結果
history-incoming = 着信
history-outgoing = 発信
history-empty = 履歴はありません
history-unavailable = 履歴を開けません: { $error }
history-off = 通話履歴はオフです([history] enabled = false)
history-redial = クリックで再発信
history-close = 閉じる
result-answered = 応答
result-missed = 不在着信
result-busy = 話し中
result-no-answer = 応答なし
result-rejected = 拒否
result-cancelled = 取り消し
result-transferred = 転送
result-failed = 失敗
btn-mute = ミュート
btn-unmute = ミュート解除
hint-mute = ミュート中はお客様に無音が聞こえます（通話は切れません）
btn-dnd = 応答不可
hint-dnd = 新しい着信を話中で断り、キューから受付不可にします
status-muted = ミュート中
status-dnd = 応答不可
other-ring-device = 着信音デバイス
other-ring-hint = 空欄: スピーカー
other-ring-on = 着信時に着信音を鳴らす
other-volume-in = マイク音量
other-volume-out = スピーカー音量
other-volume-ring = 着信音量
other-test-tone = テスト
hint-test-tone = このデバイスで着信音を2秒間鳴らします
