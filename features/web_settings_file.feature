# WEB-7: Save stores the settings, and the running softphone uses them from
# the next call on. The change is made the way an operator makes it: in the
# real OperatorWindow (driven through egui_kittest) over a real core
# registered with bluebean-sim; Save writes the settings file and hands the
# new settings to the running core, which says what it put in force. The
# next outside call's popup request at the mock CRM is the proof; the
# simulator's binding shows that nothing was restarted. A file Save would
# refuse is refused at start with one line naming the fix.
@WEB-7
Feature: Stored web integration settings
  The web integration settings are saved from the settings window into the
  settings file, and the running softphone uses them from the next call on,
  without a restart.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: Save in the window puts changed popup settings in force for the next call, without a restart
    Given the operator's window for extension 1910 is open in English with the settings
      """
      [web.popup]
      url = "{crm}/first"
      params = "number=%CallerNumber%"
      """
    And the simulator's contact of extension 1910 is noted
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      GET /first?number=09012345678
      """
    When the outside caller hangs up
    Then the call has ended
    When the CRM's requests are cleared
    And the operator clicks "Close" in the popup window
    And the operator clicks "Settings" in the window
    And the operator clicks "Web integration" in the window
    And the operator clicks "POST" in the window
    And the operator replaces the window's "URL" field with "{crm}/second"
    And the operator replaces the window's "Parameters (one per line)" field with the lines
      """
      tel=%CallerNumber%
      line=%OutLineNumber%
      """
    And the operator clicks "Save" in the window
    Then the window shows "; in force for the next call"
    And the settings file has web.popup.url = "{crm}/second"
    And extension 1910 is still registered from the noted contact, so nothing was restarted
    When an outside caller 09087654321 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      POST /second
      Content-Type: application/x-www-form-urlencoded

      tel=09087654321&line=0312345678
      """

  Scenario: settings Save would refuse are refused at start, naming the key
    When the softphone for extension 1910 is started with the settings
      """
      [web.popup]
      method = "PUT"
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    Then it exits with status 2 and one line on stderr naming "web.popup.method"

  Scenario: an unknown key is refused at start
    When the softphone for extension 1910 is started with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      parameters = "number=%CallerNumber%"
      """
    Then it exits with status 2 and one line on stderr naming "parameters"
