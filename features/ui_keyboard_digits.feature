# UI-3: keyboard digits dial with the dial pad hidden, driven through
# egui_kittest over a real core; the simulator sees the INVITE.
@UI-3
Feature: With the dial pad hidden, the keyboard's digit keys still dial

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the operator's window for extension 1910 is open in English

  Scenario: digits typed on the keyboard and Enter place the call
    Then the dial pad is hidden
    When the operator types "0311112222" on the keyboard with no field selected
    Then the window's "Number" field holds "0311112222"
    When the operator presses Enter on the keyboard
    Then the simulator sees extension 1910 calling 0311112222

  Scenario: keys that are not dial keys are not dialled
    When the operator types "03a111b1222z2" on the keyboard with no field selected
    Then the window's "Number" field holds "0311112222"
    When the operator presses Enter on the keyboard
    Then the simulator sees extension 1910 calling 0311112222

  Scenario: during a call the keyboard's digits go out as DTMF
    When an outside caller 09012345678 calls the outside line 0312345678
    And the operator clicks "Call" in the window
    Then the outside caller is talking to extension 1910
    When the operator types "45*" on the keyboard with no field selected
    Then the outside caller receives the DTMF digits "45*"
    And the dial pad is hidden
