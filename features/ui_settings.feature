# UI-7: the settings window's four tabs; Save and Cancel, seen on the
# settings file on disk. Driven through egui_kittest over a real core.
@UI-7
Feature: Settings has four tabs; Save persists, Cancel discards

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: the four tabs
    Given the operator's window for extension 1910 is open in Japanese
    When the operator clicks "設定" in the window
    Then the window shows the texts "アカウント設定, Web連携設定, コマンド連携設定, その他設定"
    And the window has the text fields "サーバー, ユーザー(内線番号)"
    When the operator clicks "Web連携設定" in the window
    Then the window shows the texts "ポップアップ情報設定, 詳細情報設定, 着信時ブラウザ起動"
    When the operator clicks "コマンド連携設定" in the window
    Then the window has the text fields "着信時アクセス, 応答時アクセス, 切断時アクセス"
    When the operator clicks "その他設定" in the window
    Then the window shows the texts "コーデック優先順位, 表示言語"

  Scenario: Save writes the settings file, and a softphone started with it uses it
    Given the operator's window for extension 1910 is open in English
    When the operator clicks "Settings" in the window
    And the operator clicks "Web integration" in the window
    And the operator types "http://127.0.0.1:9/softphone/popup/in" into the window's "URL" field
    And the operator types "number=%CallerNumber%" into the window's "Parameters (one per line)" field
    And the operator clicks "Save" in the window
    Then the window shows "Saved: "
    And the window does not show "Web integration"
    And the settings file has web.popup.url = "http://127.0.0.1:9/softphone/popup/in"
    And the settings file has web.popup.params = "number=%CallerNumber%"
    And the settings file can be read and written by its owner alone
    When the operator's window is closed
    And a softphone for extension 1910 is started from the window's settings file
    Then the simulator lists extension 1910 as registered

  Scenario: Cancel discards the edits
    Given the operator's window for extension 1910 is open in Japanese
    And the settings file is noted as it is now
    When the operator clicks "設定" in the window
    And the operator replaces the window's "ユーザー(内線番号)" field with "1999"
    And the operator clicks "キャンセル" in the window
    Then the window does not show "アカウント設定"
    And the settings file is unchanged
    When the operator clicks "設定" in the window
    Then the window's "ユーザー(内線番号)" field holds "1910"

  Scenario: a parameter line without '=' is refused with its line number
    Given the operator's window for extension 1910 is open in English
    And the settings file is noted as it is now
    When the operator clicks "Settings" in the window
    And the operator clicks "Web integration" in the window
    And the operator types "http://127.0.0.1:9/softphone/popup/in" into the window's "URL" field
    And the operator types into the window's "Parameters (one per line)" field the lines
      """
      number=%CallerNumber%
      campaignid 1234
      """
    Then the window shows "popup parameters, line 2: 'campaignid 1234' has no '=' (write name=value)"
    When the operator clicks "Save" in the window
    Then the window shows "Some entries are wrong"
    And the window shows "Web integration (!)"
    And the settings file is unchanged

  # Save puts the settings in force in the running softphone (WEB-7's
  # decision, see softphone::reload): a new account is registered at once,
  # the old binding removed first.
  @WEB-7
  Scenario: Save with another account registers it at once and removes the old binding
    Given the operator's window for extension 1910 is open in English
    When the operator clicks "Settings" in the window
    And the operator replaces the settings window's "User (extension)" field with "1911"
    And the operator replaces the settings window's "Password" field with "pw1911"
    And the operator clicks "Save" in the window
    Then the window shows "; in force for the next call"
    And the simulator lists extension 1911 as registered
    And the simulator lists no registration for extension 1910
    And the status bar shows "Ext. 1911" and "Ready to dial"

  # What a running softphone cannot change is said, not ignored.
  @WEB-7
  Scenario: a change that needs a restart is named in the status line
    Given the operator's window for extension 1910 is open in English
    When the operator clicks "Settings" in the window
    And the operator clicks "TCP" in the window
    And the operator clicks "Save" in the window
    Then the window shows "; account.transport in force after a restart"
    And the settings file has account.transport = "tcp"
    And the simulator lists extension 1910 as registered
