# CALL-3: the call history, read in the operator's window (egui_kittest)
# after real calls through the simulator. The core records each call in
# SQLite ([history] path); the window lists them.
@CALL-3
Feature: Call history lists past calls with direction, number, time, duration and result

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the operator's window for extension 1910 is open in English

  Scenario: answered, missed and outgoing calls are listed newest first
    When an outside caller 09012345678 calls the outside line 0312345678
    And the operator clicks "Call" in the window
    Then the outside caller is talking to extension 1910
    When the outside caller stays on the line for 2 seconds
    And the outside caller hangs up
    Then the call has ended
    When an outside caller 09087654321 calls the outside line 0312345678
    Then the softphone rings
    When the outside caller hangs up
    Then the call has ended
    When the operator types "0311112222" into the window's "Number" field
    And the operator clicks "Call" in the window
    And the simulator's party 0311112222 answers
    And the operator clicks "Hang up" in the window
    Then the call has ended
    When the operator clicks "History" in the window
    Then the history lists, newest first
      | direction | number      | outside line | result   |
      | Outgoing  | 0311112222  |              | Answered |
      | Incoming  | 09087654321 | 0312345678   | Missed   |
      | Incoming  | 09012345678 | 0312345678   | Answered |
    And the history shows the talk time of the call from 09012345678 that the simulator measured
