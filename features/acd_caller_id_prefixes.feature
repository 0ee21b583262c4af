# ACD-4: a CRM chooses the company number shown to the called party by
# putting a caller-ID prefix in front of the dialled number (in its
# JavaScript: a bbclient:call: link). The server holds the table prefix ->
# outside line and strips the prefix before dialling out. The simulator runs
# fixtures/sim/tenants/acd.toml: 7001 -> 0312345678, 7002 -> 0312345679,
# default caller ID 0312340000; dialled numbers are simulated outside
# parties, which report the caller ID they received.
@ACD-4
Feature: Outbound caller-ID selection by prefix
  A CRM can choose which company number is shown to the called party by
  adding a caller-ID prefix to the dialled number.

  Background:
    Given the BlueBean simulator runs the tenant "../fixtures/sim/tenants/acd.toml"
    And a softphone for extension 1001 is running

  Scenario Outline: the prefix picks the company number and is stripped
    When the operator at extension 1001 dials "<dialled>" from the command line
    Then the outside party <called> is called from extension 1001 with the caller ID <shown>

    Examples:
      | dialled        | called     | shown      |
      | 70010901234567 | 0901234567 | 0312345678 |
      | 70020901234567 | 0901234567 | 0312345679 |

  Scenario: the prefix comes from the CRM page's link
    Given the desktop hands callto:, bbclient:, tel: and sip: links to the softphone of extension 1001
    When the CRM page's link bbclient:call:7002-0312-555-666 is opened
    Then the outside party 0312555666 is called from extension 1001 with the caller ID 0312345679

  Scenario Outline: a number without a configured prefix keeps the default caller ID
    When the operator at extension 1001 dials "<dialled>" from the command line
    Then the outside party <called> is called from extension 1001 with the caller ID 0312340000

    Examples:
      | dialled        | called         |
      | 0901234567     | 0901234567     |
      | 70090901234567 | 70090901234567 |
