# Q-5 (beyond the vendor's guide): a softphone on an office LAN or behind a
# NAT is probed by SIP scanners. By default it takes calls and transfers only
# from its server ([sip] accept_calls_from = "server", accept_refer =
# "server"). The stranger is another loopback address of this machine.
@Q-5
Feature: Strangers cannot ring the phone or move its calls

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"

      [command]
      on_ring = "{recorder:on-ring} %CallerNumber%"
      """

  Scenario: a stranger's INVITE gets 403, and no hook runs for it
    When a stranger at 127.0.0.2 rings extension 1910 as 0120999999
    Then the stranger's INVITE is answered 403
    And the softphone of extension 1910 reports a refused INVITE from 127.0.0.2
    And the CRM receives no request
    And "on-ring" is not run

  Scenario: the server's calls still ring, and their hooks run
    When a stranger at 127.0.0.2 rings extension 1910 as 0120999999
    And an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "on-ring" is run once with the single argument "09012345678"

  Scenario: a flood of INVITEs from a stranger leaves the phone as it was
    When a stranger at 127.0.0.3 floods extension 1910 with 10000 INVITEs
    Then the softphone of extension 1910 kept its descriptors and memory
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings

  Scenario: a stranger's REFER inside a call is refused and nothing is dialled
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When a stranger at 127.0.0.2 sends extension 1910 a REFER to 0990000000 in the current call
    Then the stranger's request is answered 403
    And the softphone of extension 1910 reports a refused REFER from 127.0.0.2
    And extension 1910 did not call 0990000000
    And the outside caller is talking to extension 1910

  Scenario: a stranger's INVITE that would replace the call is refused, and the call stays
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When a stranger at 127.0.0.2 sends extension 1910 an INVITE that replaces the current call
    Then the stranger's request is answered 403
    And the softphone of extension 1910 reports a refused INVITE from 127.0.0.2
    And the outside caller is talking to extension 1910
