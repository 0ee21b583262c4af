# Q-1 for web integration: a slow, failing or dead CRM changes nothing in
# signalling or audio. "At once" is shown by order, not by a stopwatch: the
# softphone rings, is answered, carries audio both ways and hangs up while
# the popup request is still waiting.
@Q-1 @WEB-1
Feature: A misbehaving CRM never holds up a call
  The popup request runs beside the call: 180 Ringing and 200 OK go out at
  once whatever the CRM does; the request has a time limit and its outcome
  is logged and published.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: a CRM that answers only after 30 s
    Given the mock CRM answers only after 30000 ms
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives a request
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the outside caller hangs up
    Then the call has ended
    And the "popup request" hook was still running when the call ended
    And within 10 s the popup request is given up at its 5 s time limit

  # Not only signalling: the call's audio flows both ways while the popup
  # request waits. Each side speaks its own tone and each direction is
  # checked on what arrived; the hang-up comes after both tones were heard,
  # and the request was still waiting then (its time limit is 5 s).
  Scenario: audio flows both ways while the CRM has not answered
    Given the mock CRM answers only after 30000 ms
    And the file "voice-1910.wav" holds a 1000 Hz tone
    And a softphone for extension 1910 with the settings
      """
      [audio]
      input_wav = "{dir}/voice-1910.wav"
      output_wav = "{dir}/heard-1910.wav"

      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 speaking a 620 Hz tone calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives a request
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And while the "popup request" hook is still running, the outside party hears a 1000 Hz tone from extension 1910 and extension 1910 hears a 620 Hz tone
    When the outside caller hangs up
    Then the call has ended
    And the "popup request" hook was still running when the call ended

  Scenario: a CRM that answers 500
    Given the mock CRM answers with status 500
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the softphone reports the popup hook as failed with "HTTP 500"
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the outside caller hangs up
    Then the call has ended

  Scenario: a CRM that refuses connections
    Given a CRM address that refuses connections
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      method = "POST"
      url = "{refused}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the softphone reports the popup hook as failed
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the operator runs "bbclient hangup"
    Then the call has ended
