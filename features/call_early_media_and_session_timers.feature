# CALL-1: two flows of a real network, against the simulator. Early media:
# the called number answers the INVITE with 183 Session Progress and SDP
# and plays a tone (an announcement, a ringback) before it answers; the
# softphone must already play it. Session timers (RFC 4028, 90 s, the RFC's
# minimum): the softphone refreshes the session when asked to, and ends
# the call with BYE when the other side stops refreshing. The
# session-timer scenarios wait for real protocol timers (45 s to 61 s).
@CALL-1
Feature: Early media and session timers with the softphone

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: the softphone hears early media before the called party answers
    Given a softphone for extension 1910 is running that speaks a 1000 Hz tone and records what it hears
    And the simulator's number 0311112222 plays early media of a 620 Hz tone for 6 s, then answers speaking a 440 Hz tone
    When the operator runs "bbclient call 0311112222"
    Then the simulator sees extension 1910 calling 0311112222
    And the softphone of extension 1910 shows the call to 0311112222 as early
    And the softphone of extension 1910 hears a 620 Hz tone before the call is answered
    And the simulator shows the call of extension 1910 answered
    And the softphone of extension 1910 reports the call answered
    And the softphone of extension 1910 hears a 440 Hz tone
    And the outside party hears a 1000 Hz tone from extension 1910

  Scenario: the softphone refreshes a session timer the simulator asks it to refresh
    Given the simulator offers session timers of 90 s refreshed by the extension
    And a softphone for extension 1910 is running that speaks a 1000 Hz tone and records what it hears
    And the simulator's number 0311112222 answers speaking a 440 Hz tone
    When the operator runs "bbclient call 0311112222"
    Then the simulator shows the call of extension 1910 answered
    And the call of extension 1910 has a session timer of 90 s refreshed by the extension
    And within 70 s the simulator counts a session refresh from extension 1910
    And the call of extension 1910 is still answered 61 s after its answer
    And the softphone of extension 1910 hears a 440 Hz tone

  Scenario: the softphone ends the call with BYE when the simulator stops refreshing
    Given the simulator offers session timers of 90 s but never refreshes them
    And a softphone for extension 1910 is running that speaks a 1000 Hz tone and records what it hears
    When an outside caller 09012345678 speaking a 620 Hz tone calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And the call of extension 1910 has a session timer of 90 s refreshed by the simulator
    And within 75 s the softphone of extension 1910 ends the call with BYE
    And the simulator sent no session refresh on the call of extension 1910

  Scenario: the softphone that answered the call refreshes when asked to, and stays the refresher
    Given the simulator offers session timers of 90 s refreshed by the extension
    And a softphone for extension 1910 is running that speaks a 1000 Hz tone and records what it hears
    When an outside caller 09012345678 speaking a 620 Hz tone calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And the call of extension 1910 has a session timer of 90 s refreshed by the extension
    And within 70 s the simulator counts a session refresh from extension 1910
    And the call of extension 1910 has a session timer of 90 s refreshed by the extension
    And the call of extension 1910 is still answered 61 s after its answer
