# WEB-1 and WEB-4 in the operator's window: the popup window that shows
# the CRM's answer on an incoming call, and its Details button. The window
# is the real OperatorWindow driven through egui_kittest over a real core
# registered with bluebean-sim; the CRM is the simulator's mock CRM
# (`bluebean-sim crm`), the browser an argv recorder. What the softphone did
# is read from the simulator, the CRM's request log and the recorder's log.
@WEB-1 @WEB-4
Feature: The popup window shows the CRM's answer and opens the detail view
  When a call comes in, the window opens one popup window with what the CRM
  answered; its Details button opens the detail view in the browser. The
  operator can then take the whole call from the window alone.

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the mock CRM answers "Yamada Hanako, customer 42, {query}" as "text/plain; charset=utf-8"

  # The issue's "done when": log in, take a call from the simulator, see the
  # popup, hold, transfer and hang up from the window alone.
  @UI-5 @UI-6 @ACD-1 @CALL-2
  Scenario: an operator logs in, sees the popup and takes the call to a completed transfer from the window
    Given a softphone for extension 1911 is running
    And the operator's window for extension 1910 is open in English with the settings
      """
      [web.popup]
      url = "{crm}/crm/popup"
      params = '''
      number=%CallerNumber%
      opid=%OpId%
      '''
      """
    When the operator types "op1910" into the window's "Login ID" field
    And the operator types "op-secret" into the window's "Password" field
    And the operator clicks "Log in" in the window
    Then the simulator shows operator op1910 available on extension 1910
    And the window shows "Logged in: op1910"
    And the window has no popup window
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the popup window shows "Call from 09012345678"
    And the popup window shows "Yamada Hanako, customer 42, number=09012345678"
    And the CRM receives exactly this request for the call
      """
      GET /crm/popup?number=09012345678&opid=op1910
      """
    When the operator clicks "Call" in the window
    Then the outside caller is talking to extension 1910
    When the operator clicks "Hold" in the window
    Then the simulator sees the call held
    When the operator clicks "Resume" in the window
    Then the simulator sees the call resumed
    When the operator types "1911" into the window's "Number" field
    And the operator clicks "Transfer" in the window
    Then the simulator sees the call held
    And the softphone of extension 1911 rings with a call from 1910
    When the operator at extension 1911 runs "bbclient answer"
    And the operator clicks "Complete transfer" in the window
    Then the outside caller ends up talking to extension 1911
    And the simulator completed an attended transfer that extension 1910 asked for with a REFER to 1911
    And the simulator keeps no leg of extension 1910 up
    And the status bar shows "Ext. 1910" and "Ready to dial"
    And the popup window shows "Call ended"
    And the popup window's "Details" is greyed out
    When the operator clicks "Close" in the popup window
    Then the window has no popup window

  Scenario: Details in the popup window opens the detail view in the configured browser
    Given the operator's window for extension 1910 is open in English with the settings
      """
      [web.popup]
      url = "{crm}/crm/popup"
      params = "number=%CallerNumber%"

      [web.detail]
      url = "{crm}/crm/customer?view=full"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      callid=%CallId%
      '''
      browser = "{recorder:browser} --new-window"
      """
    When an outside caller +81312345678 calls the outside line 0312345678
    Then the softphone rings
    And the popup window shows "Yamada Hanako, customer 42, number=%2B81312345678"
    And "browser" is not run
    When the operator clicks "Details" in the popup window
    Then "browser" is run once with the arguments
      """
      ["--new-window", "{crm}/crm/customer?view=full&number=%2B81312345678&outline=0312345678&callid={call_id_encoded}"]
      """

  Scenario: without a detail view, Details in the popup window is refused with the reason
    Given the operator's window for extension 1910 is open in English with the settings
      """
      [web.popup]
      url = "{crm}/crm/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the popup window shows "Yamada Hanako, customer 42, number=09012345678"
    When the operator clicks "Details" in the popup window
    Then the window shows "details: no detail view is configured"
    And the CRM receives exactly this request for the call
      """
      GET /crm/popup?number=09012345678
      """
    And the window's controls "Call, Hang up" are enabled

  Scenario: several ringing calls share one popup window with a bounded number of tabs
    Given the operator's window for extension 1910 is open in English with the settings
      """
      [sip]
      max_ringing = 6

      [web.popup]
      url = "{crm}/crm/popup"
      params = "number=%CallerNumber%"

      [web.detail]
      url = "{crm}/crm/customer"
      params = "number=%CallerNumber%"
      browser = "{recorder:browser}"
      """
    When these outside callers call the outside line 0312345678 one after another, each one's popup shown before the next
      | caller      |
      | 09000000001 |
      | 09000000002 |
      | 09000000003 |
      | 09000000004 |
      | 09000000005 |
      | 09000000006 |
    Then there is one popup window with 5 tabs, the most it keeps
    And the popup window has tabs for "09000000002, 09000000003, 09000000004, 09000000005, 09000000006"
    And the popup window has no tab for "09000000001"
    And the popup window shows "Call from 09000000006"
    And the popup window's "Details" is enabled
    When the operator clicks "09000000003" in the popup window
    Then the popup window shows "Yamada Hanako, customer 42, number=09000000003"
    And the popup window's "Details" is greyed out
    When the operator tries to click the greyed-out "Details" in the popup window
    Then "browser" is not run
    When the operator clicks "09000000006" in the popup window
    And the operator clicks "Details" in the popup window
    Then "browser" is run once with the arguments
      """
      ["{crm}/crm/customer?number=09000000006"]
      """
