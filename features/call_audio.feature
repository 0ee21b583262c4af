# CALL-1: registration and two-way audio with the headless bbclient. Each
# side speaks its own tone; each direction is checked by detecting the
# other side's tone in what actually arrived (the simulator's Goertzel
# report for its outside party; the softphone's recording of what it heard).
@CALL-1
Feature: The softphone registers, places and receives calls with two-way audio

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: an outgoing call carries audio both ways
    Given a softphone for extension 1910 is running that speaks a 1000 Hz tone and records what it hears
    And the simulator's number 0311112222 answers speaking a 440 Hz tone
    When the operator runs "bbclient call 0311112222"
    Then the simulator sees extension 1910 calling 0311112222
    And the outside party hears a 1000 Hz tone from extension 1910
    And the softphone of extension 1910 hears a 440 Hz tone

  Scenario: an incoming call carries audio both ways
    Given a softphone for extension 1910 is running that speaks a 1000 Hz tone and records what it hears
    When an outside caller 09012345678 speaking a 620 Hz tone calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And the outside party hears a 1000 Hz tone from extension 1910
    And the softphone of extension 1910 hears a 620 Hz tone

  Scenario: a softphone with a wrong password is not registered
    Given a softphone for extension 1910 is started with a wrong SIP password
    Then the simulator refuses the registration of extension 1910 for wrong credentials
    And the simulator lists no registration for extension 1910
