# WEB-1: what the CRM answers is shown in the softphone's popup window. The
# headless softphone prints it and publishes a `popup` event on its control
# socket, which is what the window shows.
@WEB-1
Feature: The CRM's answer in the popup
  The popup window shows what the CRM answered to the popup request, as
  text, whatever character set the CRM wrote it in.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: an HTML answer is shown as text
    Given the mock CRM answers "<html><head><title>t</title></head><body><h1>山田 太郎 様</h1><p>VIP &amp; 未払いあり</p><script>alert(1)</script></body></html>" as "text/html; charset=utf-8"
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the popup text is exactly "山田 太郎 様\nVIP & 未払いあり"
    And the softphone reports the popup hook as ok with "HTTP 200"

  Scenario: the default mock answer reaches the popup for the call that rang
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the popup shows "Customer card"
    And the popup shows "number=09012345678"

  Scenario: a plain-text answer is shown as it is
    Given the mock CRM answers "顧客ID: 4711" as "text/plain; charset=utf-8"
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      method = "POST"
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the popup text is exactly "顧客ID: 4711"

  Scenario: a Shift_JIS answer is decoded
    Given a CRM that answers in Shift_JIS with "<p>お客様: 山田 太郎（ヤマダ タロウ）</p>"
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{sjis_crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the popup text is exactly "お客様: 山田 太郎（ヤマダ タロウ）"
