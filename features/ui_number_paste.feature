# UI-4 in the operator's window: a number pasted (Ctrl+V: egui's paste
# event carrying the clipboard text, sent through egui_kittest) into the
# real window's number field is normalised at once, and Call dials the
# normalised number: the simulator sees it in the INVITE's request.
@UI-4
Feature: A number pasted into the window is normalised before it is dialled
  Hyphens, spaces and the full-width forms are removed from a pasted number;
  the INVITE carries the plain digits.

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the operator's window for extension 1910 is open in English

  Scenario Outline: a number pasted into the number field is dialled normalised
    When the operator pastes "<pasted>" into the window's "Number" field
    Then the window's "Number" field holds "0312345678"
    When the operator clicks "Call" in the window
    Then the simulator sees extension 1910 calling 0312345678

    Examples:
      | pasted                   |
      | 03-1234-5678             |
      | ０３－１２３４－５６７８ |

  Scenario: a number pasted with no field selected replaces the number field
    When the operator pastes "０３－１２３４－５６７８" with no field selected
    Then the window's "Number" field holds "0312345678"
    When the operator presses Enter on the keyboard
    Then the simulator sees extension 1910 calling 0312345678
