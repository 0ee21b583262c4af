# Q-3: the operator password reaches the CRM and the command (that is what
# %OpPW% is for) but never the softphone's output or its events, even with
# every log turned on.
@Q-3 @WEB-2 @CMD-4
Feature: The operator password never shows
  %OpPW% is sent where the settings put it, and nowhere else: not in the
  softphone's terminal output, not in its logs, not in its events.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: the password goes to the CRM and the command, never to the output
    Given a softphone for extension 1910 logging everything, with the settings
      """
      [operator]
      login_id = "op-7"
      password = "Zq8!pw x&y"

      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      pw=%OpPW%
      '''

      [web.detail]
      url = "{crm}/detail"
      params = "pw=%OpPW%"
      open_browser_on_ring = true
      browser = "{recorder:browser}"

      [command]
      on_ring = "{recorder:on-ring} %OpId% %OpPW%"
      on_hangup = "{dir}/no/such/program %OpPW%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      GET /popup?number=09012345678&pw=Zq8%21pw%20x%26y
      """
    And "on-ring" is run once with the arguments
      """
      ["op-7", "Zq8!pw x&y"]
      """
    And "browser" is run once with the arguments
      """
      ["{crm}/detail?pw=Zq8%21pw%20x%26y"]
      """
    When the operator runs "bbclient hangup"
    Then the call has ended
    And the softphone reports the command_hangup hook as failed
    And the operator password "Zq8!pw x&y" appears nowhere in the softphone's output or events

  Scenario: the password of a CRM that fails is not in the failure either
    Given a CRM address that refuses connections
    And a softphone for extension 1910 logging everything, with the settings
      """
      [operator]
      password = "Zq8!pw x&y"

      [web.popup]
      url = "{refused}/popup"
      params = "pw=%OpPW%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the softphone reports the popup hook as failed
    And the operator password "Zq8!pw x&y" appears nowhere in the softphone's output or events
