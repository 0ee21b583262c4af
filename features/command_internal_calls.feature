# CMD-5: "do nothing on internal calls" for command integration. The internal
# call is a real extension-to-extension call through the simulator's B2BUA:
# the softphone of extension 1911 dials 1910 with `bbclient call 1910`. The
# rule, and the table of every kind of call the simulator delivers, are in
# web_internal_calls.feature.
@CMD-5
Feature: No command integration on internal calls
  With "do nothing on internal calls" checked in the Command integration tab,
  no command runs for an extension-to-extension call, at ring, answer or
  hang-up; outside calls still run them.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: an internal call runs no command
    Given a softphone for extension 1910 with the settings
      """
      [command]
      skip_internal = true
      on_ring = "{recorder:on-ring} ring %CallerNumber%"
      on_answer = "{recorder:on-answer} answer %CallerNumber%"
      on_hangup = "{recorder:on-hangup} hangup %CallerNumber%"
      """
    And a softphone for extension 1911 is running
    When extension 1911 calls extension 1910
    Then the softphone of extension 1910 reports the command_ring hook of that call as skipped with "internal call"
    When the operator at extension 1910 runs "bbclient answer"
    Then the softphone of extension 1911 reports the call answered
    And the softphone of extension 1910 reports the command_answer hook of that call as skipped
    When the operator at extension 1911 runs "bbclient hangup"
    Then the softphone of extension 1910 reports the command_hangup hook of that call as skipped
    And "on-ring" is not run
    And "on-answer" is not run
    And "on-hangup" is not run

  Scenario: with the box unchecked an internal call runs the commands
    Given a softphone for extension 1910 with the settings
      """
      [command]
      skip_internal = false
      on_ring = "{recorder:on-ring} ring %CallerNumber% %Exten%"
      on_hangup = "{recorder:on-hangup} hangup %CallerNumber%"
      """
    And a softphone for extension 1911 is running
    When extension 1911 calls extension 1910
    Then "on-ring" is run once with the arguments
      """
      ["ring", "1911", "1910"]
      """
    When the operator at extension 1911 runs "bbclient hangup"
    Then "on-hangup" is run once with the arguments
      """
      ["hangup", "1911"]
      """

  Scenario: an outside caller whose number looks like an extension still runs the command
    Given a softphone for extension 1910 with the settings
      """
      [command]
      skip_internal = true
      on_ring = "{recorder:on-ring} ring %CallerNumber% %OutLineNumber%"
      """
    When an outside caller 1234 calls the outside line 0312345678
    Then the softphone rings
    And "on-ring" is run once with the arguments
      """
      ["ring", "1234", "0312345678"]
      """

  @WEB-6
  Scenario: skipping command integration leaves web integration alone
    Given a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = false

      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"

      [command]
      skip_internal = true
      on_ring = "{recorder:on-ring} ring"
      """
    And a softphone for extension 1911 is running
    When extension 1911 calls extension 1910
    Then the CRM receives exactly this request
      """
      GET /popup?number=1911
      """
    And the softphone of extension 1910 reports the command_ring hook of that call as skipped
    And "on-ring" is not run
