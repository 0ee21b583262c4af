# ACD-3: the server dials a campaign's numbers and connects the answered
# ones to available operators. The simulator runs
# fixtures/sim/tenants/acd.toml: campaign "renewals" dials 0801110001,
# campaign "impatient" dials 0801120001 and gives an answered call 1.5 s to
# reach an operator; the numbers are simulated parties that answer after
# 300 ms. The operator logs in from the softphone (`bbclient login`).
@ACD-3
Feature: Predictive dialling
  The server dials a campaign's numbers and connects the answered ones to
  available operators.

  Background:
    Given the BlueBean simulator runs the tenant "../fixtures/sim/tenants/acd.toml"

  Scenario: an answered campaign call is connected to the available operator
    Given operator op1 is logged in on extension 1001
    When the campaign renewals is started
    Then extension 1001 rings with a call from 0801110001
    When the operator at extension 1001 runs "bbclient answer"
    Then the called party 0801110001 is talking to extension 1001
    And the campaign renewals counts 1 connect and 0 abandons

  # The queue's offers carry Call-Info: …;answer-after=0 (the tenant asks for
  # it); a softphone set to auto-answer "server" connects the customer at once.
  Scenario: a softphone that answers by itself connects the campaign call without the operator
    Given the softphone of extension 1001 answers by itself when the server asks
    And operator op1 is logged in on extension 1001
    When the campaign renewals is started
    Then extension 1001 rings with a call from 0801110001
    And the called party 0801110001 is talking to extension 1001
    And the campaign renewals counts 1 connect and 0 abandons

  Scenario: with no operator available the dialler places no call
    Given operator op1 is logged in on extension 1001
    And operator op1 is not available
    When the campaign renewals is started
    Then the campaign renewals has dialled no number
    And extension 1001 does not ring
    When operator op1 becomes available
    Then extension 1001 rings with a call from 0801110001

  Scenario: an answered call that no operator takes in time is an abandon, not a connect
    Given operator op1 is logged in on extension 1001
    When the campaign impatient is started
    Then extension 1001 rings with a call from 0801120001
    And the campaign impatient counts 0 connects and 1 abandon
