# UI-6: the operator login panel and the language switch, driven through
# egui_kittest over a real core registered with the simulator.
@UI-6
Feature: Operator login panel and the Japanese | English | Chinese language switch

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: the panel has the login ID, the password, Login and the three languages
    Given the operator's window for extension 1910 is open in Japanese
    Then the window shows "オペレーターログイン"
    And the window has the text fields "ログインID, パスワード"
    And the window's "パスワード" field is hidden like a password
    And the window's controls "ログイン, 日本語, English, 中文" are enabled
    And the window's controls "ログアウト" are disabled

  Scenario: the language switch changes every string at once
    Given the operator's window for extension 1910 is open in Japanese
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the status bar shows "内線 1910" and "着信中 09012345678"
    When the operator clicks "English" in the window
    Then the status bar shows "Ext. 1910" and "Ringing 09012345678"
    And the window shows the texts "Call, Hold, Transfer, Hang up, Settings, History, Operator login, Login ID, Password, Log in"
    And no text in the window is in another language than English
    When the operator clicks "中文" in the window
    Then the status bar shows "分机 1910" and "来电 09012345678"
    And the window shows the texts "通话, 保持, 转接, 挂断, 设置, 历史记录, 坐席登录, 登录ID, 密码, 登录"
    And no text in the window is in another language than Chinese
    When the operator clicks "日本語" in the window
    Then the status bar shows "内線 1910" and "着信中 09012345678"
    And the window shows the texts "通話, 保留, 転送, 切断, 設定, 履歴, オペレーターログイン, ログインID, パスワード, ログイン"

  Scenario: logging in from the panel makes the operator available at the extension
    Given the operator's window for extension 1910 is open in Japanese
    When the operator types "op1910" into the window's "ログインID" field
    And the operator types "op-secret" into the window's "パスワード" field
    And the operator clicks "ログイン" in the window
    Then the simulator shows operator op1910 available on extension 1910
    And the window shows "ログイン中: op1910"
    And the window's controls "ログアウト" are enabled
    When the operator clicks "ログアウト" in the window
    Then the simulator shows operator op1910 logged out
    And the window shows "ログアウトしています"

  Scenario: a wrong operator password is refused and the operator stays logged out
    Given the operator's window for extension 1910 is open in English
    When the operator types "op1910" into the window's "Login ID" field
    And the operator types "not-the-password" into the window's "Password" field
    And the operator clicks "Log in" in the window
    Then the window shows "or its password is wrong"
    And the simulator shows operator op1910 logged out
    And the window's controls "Log out" are disabled
