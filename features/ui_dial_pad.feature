# UI-2: the dial-pad toggle, driven through egui_kittest over a real core.
@UI-2
Feature: The dial-pad button shows a dial pad to the right; pressing it again hides it

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the operator's window for extension 1910 is open in Japanese

  Scenario: the dial pad opens to the right of the call buttons and dials
    Then the dial pad is hidden
    When the operator clicks "ダイヤルパッド" in the window
    Then the dial pad is shown to the right of the "切断" button
    When the operator presses "0311112222" on the dial pad
    Then the window's "電話番号" field holds "0311112222"
    When the operator clicks "通話" in the window
    Then the simulator sees extension 1910 calling 0311112222

  Scenario: pressing the button again hides the dial pad
    When the operator clicks "ダイヤルパッド" in the window
    Then the dial pad is shown to the right of the "切断" button
    When the operator clicks "ダイヤルパッド" in the window
    Then the dial pad is hidden

  Scenario: during a call the dial pad sends its keys as DTMF
    When an outside caller 09012345678 calls the outside line 0312345678
    And the operator clicks "通話" in the window
    Then the outside caller is talking to extension 1910
    When the operator clicks "ダイヤルパッド" in the window
    And the operator presses "12#" on the dial pad
    Then the outside caller receives the DTMF digits "12#"
    And the window's "電話番号" field holds ""
