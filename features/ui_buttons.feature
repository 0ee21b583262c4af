# UI-5: Call, Hold, Transfer, Hang up, Settings and History, driven through
# egui_kittest over a real core; their effect is what the simulator sees
# (re-INVITE for hold, REFER with Replaces for the transfer, REFER for the
# blind transfer, BYE). CALL-2 from the buttons: after a transfer the
# operator's legs are gone at the simulator.
@UI-5
Feature: Call, Hold, Transfer, Hang up, Settings and History buttons
  The call buttons are enabled only when they make sense, and each one acts
  on the live call.

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the operator's window for extension 1910 is open in Japanese

  Scenario: with the line idle and no number, only Settings and History can be used
    Then the window's controls "設定, 履歴" are enabled
    And the window's controls "通話, 保留, 転送, 切断" are disabled
    When the operator tries to click the greyed-out "保留" in the window
    And the operator tries to click the greyed-out "切断" in the window
    And the operator tries to click the greyed-out "通話" in the window
    Then the simulator sees no call from extension 1910

  Scenario: a number enables Call, which dials it, and Hang up ends the call
    When the operator types "0311112222" into the window's "電話番号" field
    Then the window's controls "通話" are enabled
    And the window's controls "保留, 転送, 切断" are disabled
    When the operator clicks "通話" in the window
    Then the simulator sees extension 1910 calling 0311112222
    When the simulator's party 0311112222 answers
    Then the window's controls "保留, 切断" are enabled
    And the window's controls "通話" are disabled
    When the operator clicks "切断" in the window
    Then the call has ended
    And the status bar shows "内線 1910" and "ダイヤルできます"

  @CALL-2
  Scenario: Call answers, Hold holds and resumes, Hang up sends BYE
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the window's controls "通話, 切断" are enabled
    And the window's controls "保留, 転送" are disabled
    When the operator clicks "通話" in the window
    Then the outside caller is talking to extension 1910
    When the operator clicks "保留" in the window
    Then the simulator sees the call held
    When the operator clicks "保留解除" in the window
    Then the simulator sees the call resumed
    When the operator clicks "切断" in the window
    Then the simulator sees the call ended by extension 1910
    And the status bar shows "内線 1910" and "ダイヤルできます"

  @CALL-2
  Scenario: Transfer holds the call and dials the target; Complete hands the caller over
    Given a softphone for extension 1911 is running
    When an outside caller 09012345678 calls the outside line 0312345678
    And the operator clicks "通話" in the window
    Then the outside caller is talking to extension 1910
    And the window's controls "転送" are disabled
    When the operator types "1911" into the window's "電話番号" field
    And the operator clicks "転送" in the window
    Then the simulator sees the call held
    And the softphone of extension 1911 rings with a call from 1910
    When the operator at extension 1911 runs "bbclient answer"
    And the operator clicks "転送完了" in the window
    Then the outside caller ends up talking to extension 1911
    And the simulator completed an attended transfer that extension 1910 asked for with a REFER to 1911
    And the simulator keeps no leg of extension 1910 up
    And the status bar shows "内線 1910" and "ダイヤルできます"

  @CALL-2
  Scenario: Blind transfer in the Transfer menu hands the caller over without a consultation
    Given a softphone for extension 1911 is running
    When an outside caller 09012345678 calls the outside line 0312345678
    And the operator clicks "通話" in the window
    Then the outside caller is talking to extension 1910
    When the operator types "1911" into the window's "電話番号" field
    And the operator clicks "転送メニュー" in the window
    And the operator clicks "ブラインド転送" in the window
    Then the softphone of extension 1911 rings with a call from 09012345678
    When the operator at extension 1911 runs "bbclient answer"
    Then the outside caller ends up talking to extension 1911
    And the simulator completed a blind transfer that extension 1910 asked for with a REFER to 1911
    And the simulator keeps no leg of extension 1910 up
    And the window shows "1911 へ転送しました"
    And the status bar shows "内線 1910" and "ダイヤルできます"

  Scenario: Settings and History open their windows
    When the operator clicks "設定" in the window
    Then the window shows the texts "アカウント設定, 保存, キャンセル"
    When the operator clicks "キャンセル" in the window
    And the operator clicks "履歴" in the window
    Then the window shows "履歴はありません"

  @Q-7
  Scenario: Mute mutes the call being talked on, and the status bar says so
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the window's controls "ミュート" are disabled
    When the operator clicks "通話" in the window
    Then the outside caller is talking to extension 1910
    When the operator clicks "ミュート" in the window
    Then the status bar shows "内線 1910" and "ミュート中"
    When the operator clicks "ミュート解除" in the window
    Then the window's controls "ミュート" are enabled

  @Q-8
  Scenario: Do not disturb turns the next call away until it is switched off
    When the operator clicks "応答不可" in the window
    Then the status bar shows "内線 1910" and "応答不可"
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the outside call ends with "rejected 486"
