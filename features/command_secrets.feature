# Q-3: the operator password reaches the CRM and the command (that is what
# %OpPW% is for) but never the softphone's output or its events, even with
# every log turned on; the SIP account password never shows either.
#
# "Logging everything" is BBCLIENT_LOG=trace: rsipstack's own logging
# included (the REGISTER and its digest). Both passwords hold a space, "!",
# "&" and a non-ASCII letter, so that their raw, %XX (upper- and lower-case
# hex) and +-for-space forms all differ; every form is looked for in the
# softphone's stdout, its stderr, the log file of a softphone that
# "bbclient call" started, and the event stream.
@Q-3 @WEB-2 @CMD-4
Feature: The passwords never show
  %OpPW% is sent where the settings put it, and nowhere else: not in the
  softphone's terminal output, not in its logs, not in its events. The SIP
  password goes into the digest only.

  Background:
    Given the BlueBean simulator, with the SIP password "s1p pw&!ü" for extensions 1910 and 1911, and a mock CRM are running

  Scenario: the password goes to the CRM and the command, never to the output
    Given a softphone for extension 1910 logging everything, with the settings
      """
      [operator]
      login_id = "op-7"
      password = "Zq8!pw x&yé"

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
      GET /popup?number=09012345678&pw=Zq8%21pw%20x%26y%C3%A9
      """
    And "on-ring" is run once with the arguments
      """
      ["op-7", "Zq8!pw x&yé"]
      """
    And "browser" is run once with the arguments
      """
      ["{crm}/detail?pw=Zq8%21pw%20x%26y%C3%A9"]
      """
    When the operator runs "bbclient hangup"
    Then the call has ended
    And the softphone reports the command_hangup hook as failed
    And the passwords "s1p pw&!ü" and "Zq8!pw x&yé" appear nowhere in what the softphones printed, logged or sent as events

  Scenario: the password of a CRM that fails is not in the failure either
    Given a CRM address that refuses connections
    And a softphone for extension 1910 logging everything, with the settings
      """
      [operator]
      password = "Zq8!pw x&yé"

      [web.popup]
      url = "{refused}/popup"
      params = "pw=%OpPW%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the softphone reports the popup hook as failed
    And the passwords "s1p pw&!ü" and "Zq8!pw x&yé" appear nowhere in what the softphones printed, logged or sent as events

  Scenario: the passwords never show in the log of a softphone that bbclient call started
    Given a softphone for extension 1911 that "bbclient call 0120486000" started on demand, logging everything, with the settings
      """
      [operator]
      login_id = "op-7"
      password = "Zq8!pw x&yé"

      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      pw=%OpPW%
      '''

      [command]
      on_ring = "{recorder:on-ring} %OpId% %OpPW%"
      on_hangup = "{recorder:on-hangup} %OpPW%"
      """
    When an outside caller 09012345678 calls the outside line 0312345679
    Then the CRM receives exactly this request for the call
      """
      GET /popup?number=09012345678&pw=Zq8%21pw%20x%26y%C3%A9
      """
    And "on-ring" is run once with the arguments
      """
      ["op-7", "Zq8!pw x&yé"]
      """
    When the outside caller hangs up
    Then the softphone of extension 1911 reports the command_hangup hook as ok
    And "on-hangup" is run once with the arguments
      """
      ["Zq8!pw x&yé"]
      """
    And the passwords "s1p pw&!ü" and "Zq8!pw x&yé" appear nowhere in what the softphones printed, logged or sent as events

  # The popup shows what the CRM answers; a CRM that echoes the password
  # back, in whatever encoding, must not make it show.
  Scenario: a CRM that echoes the password, in any encoding, does not make it show
    Given the mock CRM answers "a=Zq8%21pw%20x%26y%c3%a9 b=Zq8%21pw+x%26y%C3%A9 c=Zq8!pw x&yé" as "text/plain"
    And a softphone for extension 1910 logging everything, with the settings
      """
      [operator]
      password = "Zq8!pw x&yé"

      [web.popup]
      url = "{crm}/popup"
      params = "pw=%OpPW%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the popup text is exactly "a=*** b=*** c=***"
    And the passwords "s1p pw&!ü" and "Zq8!pw x&yé" appear nowhere in what the softphones printed, logged or sent as events
