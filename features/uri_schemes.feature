# CRM links (URI-1, URI-2, URI-3). The links sit in CRM web pages; the
# browser hands them to the desktop, which runs the handler that
# `bbclient install-handlers` registered, which forwards the verb to the
# softphone that already runs. The desktop here is xdg-open in the
# scenario's own HOME and XDG directories. Scenarios tagged @b2bua need the
# simulator to route calls from extensions, hold and transfers.
Feature: CRM links drive the running softphone
  A link cannot change settings or the operator session: only the guide's
  seven call-control verbs exist in a URI, and everything else is refused
  with one line and a non-zero exit. That a link dialled is seen at the
  simulator: the INVITE it received, for the normalised number.

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 is running
    And the desktop hands callto:, bbclient:, tel: and sip: links to the softphone of extension 1910

  @URI-1 @URI-3
  Scenario: a callto: link dials its number through the running softphone
    When the CRM page's link callto:03-1234-5678 is opened
    Then it succeeds
    And the softphone of extension 1910 dials 0312345678

  @URI-2 @URI-3
  Scenario: a bbclient:call link dials through the running softphone
    When the CRM page's link bbclient:call:1330 is opened
    Then it succeeds
    And the softphone of extension 1910 dials 1330

  @URI-2 @URI-3 @b2bua
  Scenario: the simulator sees the call a bbclient:call link placed
    Given a softphone for extension 1330 is running
    When the CRM page's link bbclient:call:1330 is opened
    Then the simulator sees extension 1910 calling 1330
    And the softphone of extension 1330 rings with a call from 1910

  @URI-3
  Scenario Outline: tel: and sip: links dial as well
    When the CRM page's link <link> is opened
    Then it succeeds
    And the softphone of extension 1910 dials <number>

    Examples:
      | link                                         | number       |
      | tel:+81-3-1234-5678                          | +81312345678 |
      | tel:03-1234-5678;phone-context=bluebean.test | 0312345678   |
      | sip:1330@bluebean.example;user=phone         | 1330         |
      | callto://0312345678/                         | 0312345678   |

  @URI-2 @URI-3 @CALL-2
  Scenario: bbclient:hangup ends the call
    Given an outside caller 09012345678 is talking to extension 1910
    When the CRM page's link bbclient:hangup is opened
    Then it succeeds
    And the call has ended
    And the softphone of extension 1910 reports the call ended

  @URI-2 @URI-3 @CALL-2 @b2bua
  Scenario: bbclient:hold and bbclient:unhold hold and resume the call
    Given an outside caller 09012345678 is talking to extension 1910
    When the CRM page's link bbclient:hold is opened
    Then the softphone of extension 1910 reports the call held
    And the simulator sees the call held
    When the CRM page's link bbclient:unhold is opened
    Then the softphone of extension 1910 reports the call resumed
    And the simulator sees the call resumed

  @URI-2 @URI-3 @CALL-2 @b2bua
  Scenario: bbclient:blindtransfer hands the caller to another extension
    Given a softphone for extension 1303 is running
    And an outside caller 09012345678 is talking to extension 1910
    When the CRM page's link bbclient:blindtransfer:1303 is opened
    Then the softphone of extension 1303 rings with a call from 09012345678
    When the operator at extension 1303 runs "bbclient answer"
    Then the outside caller ends up talking to extension 1303
    And the softphone of extension 1910 reports the call transferred to 1303
    And the simulator keeps no leg of extension 1910 up

  @URI-2 @URI-3 @CALL-2 @b2bua
  Scenario: bbclient:transfer then bbclient:transfer_complete hand the caller over after a consultation
    Given a softphone for extension 1303 is running
    And the simulator waits for the transferor to hang up after a transfer
    And an outside caller 09012345678 is talking to extension 1910
    When the CRM page's link bbclient:transfer:1303 is opened
    Then the softphone of extension 1910 reports the call held
    And the softphone of extension 1303 rings with a call from 1910
    When the operator at extension 1303 runs "bbclient answer"
    And the CRM page's link bbclient:transfer_complete is opened
    Then the outside caller ends up talking to extension 1303
    And the simulator keeps no leg of extension 1910 up

  @URI-2
  Scenario Outline: a malformed link is refused with one line and exit code 2
    When the OS hands the link <link> to bbclient
    Then it fails with exit code 2 and the one line "<reason>"
    And the softphone of extension 1910 did nothing

    Examples:
      | link                  | reason                                      |
      | bbclient:call:        | has no number (write bbclient:call:NUMBER)  |
      | bbclient:call         | has no number                               |
      | bbclient:call:12ab    | number refused: 'a' at position 2 in '12ab' |
      | bbclient:hold:1330    | hold takes no argument                      |
      | bbclient:dial:1330    | unsupported URI 'bbclient:dial:1330'        |
      | bbclient:call:1330?x  | take no '?' query                           |
      | callto:               | has no number (write callto:NUMBER)         |
      | callto:12%0A34        | control or invisible character U+000A       |
      | callto:%FF            | not UTF-8                                   |
      | http://crm.example/   | unsupported URI                             |
      | sip:alice@example.com | is not a phone number                       |

  @URI-2 @URI-3
  Scenario Outline: a link cannot change settings or the operator session
    Given the operator at extension 1910 is <session>
    When the CRM page's link <link> is opened
    Then the link is refused with the one line "<reason>"
    And the softphone of extension 1910 did nothing

    Examples:
      | session    | link                             | reason                                          |
      | logged out | bbclient:login                   | login is available on the command line only     |
      | logged out | bbclient:login:op1910            | login is available on the command line only     |
      | logged in  | bbclient:logout                  | logout is available on the command line only    |
      | logged in  | bbclient:set:server=evil.example | unsupported URI 'bbclient:set:server=evil.exam |
      | logged in  | bbclient:settings?password=x     | take no '?' query                               |
      | logged in  | bbclient:status                  | status is available on the command line only    |
      | logged in  | bbclient:answer                  | answer is available on the command line only    |
      | logged in  | bbclient:dtmf:1234               | dtmf is available on the command line only      |
