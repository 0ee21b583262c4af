# ACD-2: calls to a company outside line are routed by the server to
# logged-in, available operators. The simulator runs
# fixtures/sim/tenants/acd.toml (outside line 0312345678 -> queue "support",
# longest idle first); every operator logs in from their own softphone with
# `bbclient login`.
@ACD-2
Feature: Incoming calls go to logged-in, available operators
  Calls to a company outside line are routed by the server to logged-in,
  available operators.

  Background:
    Given the BlueBean simulator runs the tenant "../fixtures/sim/tenants/acd.toml"

  Scenario: the call rings the logged-in operator, not an extension nobody is logged in at
    Given operator op1 is logged in on extension 1001
    And a softphone for extension 1002 whose operator settings point at the simulator
    When an outside caller 09012345678 calls the outside line 0312345678
    Then extension 1001 rings with a call from 09012345678
    And extension 1002 does not ring
    When the operator at extension 1001 runs "bbclient answer"
    Then the outside caller is talking to extension 1001

  Scenario: an operator who is not available gets no call
    Given operator op1 is logged in on extension 1001
    And operator op2 is logged in on extension 1002
    And operator op1 is not available
    When an outside caller 09012345678 calls the outside line 0312345678
    Then extension 1002 rings with a call from 09012345678
    And extension 1001 does not ring

  Scenario: with nobody available the call waits for the first operator who becomes available
    Given operator op1 is logged in on extension 1001
    And operator op1 is not available
    And a softphone for extension 1002 whose operator settings point at the simulator
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the call waits in the queue support
    And extension 1001 does not ring
    And extension 1002 does not ring
    When operator op2 logs in on extension 1002
    Then extension 1002 rings with a call from 09012345678
    And extension 1001 does not ring

  Scenario: an operator on a call gets no second call
    Given operator op1 is logged in on extension 1001
    When an outside caller 09012345678 calls the outside line 0312345678
    Then extension 1001 rings with a call from 09012345678
    When the operator at extension 1001 runs "bbclient answer"
    Then the outside caller is talking to extension 1001
    When an outside caller 09087654321 calls the outside line 0312345678
    Then the call waits in the queue support
    And extension 1001 rang only once
