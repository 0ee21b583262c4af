# ACD-1: the operator logs in from the softphone. `bbclient login` sends the
# login ID and password to BlueBean's operator API (the simulator's
# POST /api/operators/login, named by `[operator] api_url` in the settings);
# from then on the server's ACD offers that operator queue calls. The
# simulator runs fixtures/sim/tenants/acd.toml: the outside line 0312345678
# goes to the queue "support"; operators op1, op2, op3 (password "<id>-pw").
@ACD-1
Feature: Operator login from the softphone
  Logging in as an operator (login ID + password) from the softphone
  enables BlueBean's ACD functions; the login ID and password are the
  values behind %OpId% and %OpPW%.

  Background:
    Given the BlueBean simulator runs the tenant "../fixtures/sim/tenants/acd.toml"

  Scenario: logging in with the password typed on stdin enables queue calls
    Given a softphone for extension 1001 whose operator settings point at the simulator
    When the operator at extension 1001 logs in as op1 typing the password "op1-pw"
    Then the login succeeds
    And the simulator shows operator op1 available on extension 1001
    When an outside caller 09012345678 calls the outside line 0312345678
    Then extension 1001 rings with a call from 09012345678
    And the password "op1-pw" appears nowhere in the output of the softphone of extension 1001

  Scenario: logging in with the login ID and password of the settings
    Given a softphone for extension 1002 with the operator login op2 and the password "op2-pw"
    When the operator at extension 1002 logs in with the login ID and password of the settings
    Then the login succeeds
    And the simulator shows operator op2 available on extension 1002
    When an outside caller 09012345678 calls the outside line 0312345678
    Then extension 1002 rings with a call from 09012345678

  Scenario: a wrong password is refused and enables nothing
    Given a softphone for extension 1001 whose operator settings point at the simulator
    When the operator at extension 1001 logs in as op1 typing the password "not-the-password"
    Then the login is refused
    And the simulator shows operator op1 logged out
    And the password "not-the-password" appears nowhere in the output of the softphone of extension 1001
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the call waits in the queue support
    And extension 1001 does not ring

  Scenario: an operator who logged out gets no more queue calls
    Given a softphone for extension 1001 whose operator settings point at the simulator
    And the operator at extension 1001 logged in as op1 typing the password "op1-pw"
    When the operator at extension 1001 logs out
    Then the login succeeds
    And the simulator shows operator op1 logged out
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the call waits in the queue support
    And extension 1001 does not ring

  @Q-8
  Scenario: do not disturb makes the logged-in operator not available until it ends
    Given operator op1 is logged in on extension 1001
    When the operator at extension 1001 runs "bbclient dnd on"
    Then the simulator shows operator op1 as not_available
    When the operator at extension 1001 runs "bbclient dnd off"
    Then the simulator shows operator op1 available on extension 1001
