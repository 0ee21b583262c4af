# Q-9 (beyond the vendor's guide; MicroSIP's cmdOutgoingCall): the CRM can
# hear of calls the operator places. [command] on_dial runs a command and
# [web] popup_on_dial sends the popup request when a call is placed, with
# the same placeholders; %CallerNumber% is the dialled number and
# %OutLineNumber% is empty. Both are off by default, and the guide's
# answer and hang-up commands stay for incoming calls.
@Q-9
Feature: Hooks when the operator places a call

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: the dial command runs with the dialled number
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_dial = "{recorder:on-dial} dial %CallerNumber% %Exten% %OutLineNumber%"
      """
    And the simulator's number 0311112222 answers speaking a 440 Hz tone
    When the operator runs "bbclient call 0311112222"
    Then the simulator sees extension 1910 calling 0311112222
    And "on-dial" is run once with the arguments
      """
      ["dial", "0311112222", "1910", ""]
      """
    And the softphone reports the command_dial hook as ok

  Scenario: the popup request is sent for a placed call when asked
    Given a softphone for extension 1910 with the settings
      """
      [web]
      popup_on_dial = true

      [web.popup]
      url = "{crm}/popup?"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      """
    When the operator runs "bbclient call 0311112222"
    Then the CRM receives exactly this request
      """
      GET /popup?number=0311112222&outline=
      """

  Scenario: without popup_on_dial a placed call sends no popup request
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup?"
      params = "number=%CallerNumber%"

      [command]
      on_dial = "{recorder:on-dial} %CallerNumber%"
      """
    When the operator runs "bbclient call 0311112222"
    Then the simulator sees extension 1910 calling 0311112222
    And the softphone reports the command_dial hook as ok
    And the CRM receives no request
