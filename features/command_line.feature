# The command line (CLI-1): the guide's seven verbs, plus answer, status and
# the automation socket, acting on the softphone that already runs; `call`
# starts one when none runs. Scenarios tagged @b2bua need the simulator to
# route calls from extensions, hold and transfers.
Feature: The command line drives the running softphone
  Every verb reaches the running softphone over its per-user socket and
  exits 0 when done; a refusal exits 1 with the reason, a malformed command
  line exits 2, and no softphone to talk to exits 3.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  @CLI-1
  Scenario: bbclient call dials through the running softphone
    Given a softphone for extension 1910 is running
    When the operator at extension 1910 runs "bbclient call 1330"
    Then the softphone of extension 1910 dials 1330

  @CLI-1 @b2bua
  Scenario: the simulator sees the call bbclient call placed
    Given a softphone for extension 1910 is running
    And a softphone for extension 1330 is running
    When the operator at extension 1910 runs "bbclient call 1330"
    Then the simulator sees extension 1910 calling 1330
    And the softphone of extension 1330 rings with a call from 1910
    When the operator at extension 1330 runs "bbclient answer"
    And the operator at extension 1910 runs "bbclient hangup"
    Then the softphone of extension 1330 reports the call ended

  @CLI-1 @CALL-2
  Scenario: answer, then hang up, from the command line
    Given a softphone for extension 1910 is running
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator at extension 1910 runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the operator at extension 1910 runs "bbclient hangup"
    Then the call has ended
    And the softphone of extension 1910 reports the call ended

  @CLI-1 @CALL-2 @b2bua
  Scenario: hold and unhold from the command line
    Given a softphone for extension 1910 is running
    And an outside caller 09012345678 is talking to extension 1910
    When the operator at extension 1910 runs "bbclient hold"
    Then the softphone of extension 1910 reports the call held
    And the simulator sees the call held
    When the operator at extension 1910 runs "bbclient unhold"
    Then the softphone of extension 1910 reports the call resumed
    And the simulator sees the call resumed

  @CLI-1 @CALL-2 @b2bua
  Scenario: blindtransfer from the command line
    Given a softphone for extension 1910 is running
    And a softphone for extension 1303 is running
    And an outside caller 09012345678 is talking to extension 1910
    When the operator at extension 1910 runs "bbclient blindtransfer 1303"
    Then the softphone of extension 1303 rings with a call from 09012345678
    When the operator at extension 1303 runs "bbclient answer"
    Then the outside caller ends up talking to extension 1303
    And the softphone of extension 1910 reports the call transferred to 1303
    And the simulator keeps no leg of extension 1910 up

  @CLI-1 @CALL-2 @b2bua
  Scenario: transfer then transfer_complete from the command line
    Given a softphone for extension 1910 is running
    And the simulator waits for the transferor to hang up after a transfer
    And a softphone for extension 1303 is running
    And an outside caller 09012345678 is talking to extension 1910
    When the operator at extension 1910 runs "bbclient transfer 1303"
    Then the softphone of extension 1910 reports the call held
    And the softphone of extension 1303 rings with a call from 1910
    When the operator at extension 1303 runs "bbclient answer"
    And the operator at extension 1910 runs "bbclient transfer_complete"
    Then the outside caller ends up talking to extension 1303
    And the simulator keeps no leg of extension 1910 up

  @CLI-1
  Scenario Outline: a verb that makes no sense now is refused with the reason
    Given a softphone for extension 1910 is running
    When the command line "<command>" is run at extension 1910
    Then it fails with exit code 1 and the one line "<reason>"
    And the softphone of extension 1910 did nothing

    Examples:
      | command                     | reason                  |
      | bbclient hold               | no active call to hold  |
      | bbclient unhold             | no call is on hold      |
      | bbclient hangup             | no call to hang up      |
      | bbclient transfer_complete  | no transfer in progress |
      | bbclient blindtransfer 1303 | no active call          |
      | bbclient transfer 1303      | no active call          |
      | bbclient answer             | no call is ringing      |

  @CLI-1
  Scenario Outline: with no softphone running, a verb says so
    Given no softphone is running
    When the command line "<command>" is run
    Then it fails with exit code 3 and the one line "no softphone is running"

    Examples:
      | command                      |
      | bbclient hold                |
      | bbclient unhold              |
      | bbclient transfer 1303       |
      | bbclient transfer_complete   |
      | bbclient blindtransfer 1303  |
      | bbclient hangup              |
      | bbclient answer              |
      | bbclient status              |
      | bbclient bbclient:hangup     |

  @CLI-1
  Scenario: with no softphone running, call starts one from the settings file, then dials
    Given no softphone is running, and the settings of extension 1910 are in the default settings file
    When the operator at extension 1910 runs "bbclient call 1330"
    Then a softphone for extension 1910 has been started and registered before it dialled
    And the softphone of extension 1910 dials 1330

  @CLI-1 @URI-3
  Scenario: with no softphone running, a call link starts one too
    Given no softphone is running, and the settings of extension 1910 are in the default settings file
    When the OS hands the link bbclient:call:1330 to bbclient
    Then it succeeds
    And a softphone for extension 1910 has been started and registered before it dialled
    And the softphone of extension 1910 dials 1330

  @CLI-1
  Scenario: with no softphone and no settings file, call says where it looked
    Given no softphone is running
    When the command line "bbclient call 1330" is run
    Then it fails with exit code 3 and the one line "bbclient/bbclient.toml does not exist"

  @CLI-1
  Scenario Outline: a malformed command line is refused with one line and exit code 2
    Given a softphone for extension 1910 is running
    When the command line "<command>" is run at extension 1910
    Then it fails with exit code 2 and the one line "<reason>"
    And the softphone of extension 1910 did nothing

    Examples:
      | command                     | reason                                    |
      | bbclient frobnicate         | unknown verb 'frobnicate'                 |
      | bbclient hang-up            | did you mean 'hangup'?                    |
      | bbclient call               | call needs a NUMBER (write: call NUMBER)  |
      | bbclient call 1330 hangup   | call got an unexpected argument 'hangup'  |
      | bbclient hold 1330          | hold got an unexpected argument '1330'    |
      | bbclient status --xml       | unknown option '--xml' for status         |
      | bbclient dtmf 12x           | dtmf:                                     |
      | bbclient login --password x | unknown option '--password' for login     |

  @CLI-1
  Scenario: a script follows a call on the control socket, by the simulator's Call-ID
    Given a softphone for extension 1910 is running
    And a script is subscribed to the events of the softphone of extension 1910
    Then the script sees the registration state registered
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator at extension 1910 runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the outside caller hangs up
    Then the call has ended
    And the script sees the events ringing, answered and hung_up, in this order, each with the Call-ID the simulator gave the call
