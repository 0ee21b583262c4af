# Q-5 (beyond the vendor's guide): what a ringing call may cost is bounded.
# A call that nobody answers or cancels (a lost CANCEL, a scanner) ends at
# the phone's own time limit ([sip] ring_timeout_s, 120 s by default, set
# short here); no more than [sip] max_ringing calls ring at once (4 by
# default), the next is answered 486 Busy Here.
@Q-5
Feature: A ringing call ends at its time limit, and only so many ring at once

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: a call nobody answers ends at the ring time limit
    Given a softphone for extension 1910 with the settings
      """
      [sip]
      ring_timeout_s = 2
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the outside call ends with "rejected 480"
    And the softphone of extension 1910 reports the call ended

  Scenario: one call more than max_ringing is busy
    Given a softphone for extension 1910 with the settings
      """
      [sip]
      max_ringing = 2
      """
    When an outside caller 09011111111 calls the outside line 0312345678
    Then the softphone rings
    When an outside caller 09022222222 calls the outside line 0312345678
    Then the softphone rings
    When an outside caller 09033333333 calls the outside line 0312345678
    Then the outside call ends with "rejected 486"
