# UI-1: the status bar of the operator's window. The window is driven
# through egui_kittest over a real softphone core registered with the
# simulator; the line state comes from real calls.
@UI-1
Feature: The status bar shows the own extension and the line state
  The status bar at the top of the window names the operator's extension
  and says what the line is doing: ready to dial, ringing, talking, on hold.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: a registered softphone is ready to dial
    Given the operator's window for extension 1910 is open in Japanese
    Then the status bar shows "内線 1910" and "ダイヤルできます"

  Scenario: the line state follows a call from outside
    Given the operator's window for extension 1910 is open in English
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the status bar shows "Ext. 1910" and "Ringing 09012345678"
    When the operator clicks "Call" in the window
    Then the outside caller is talking to extension 1910
    And the status bar shows "Ext. 1910" and "Talking 09012345678"
    When the operator clicks "Hold" in the window
    Then the simulator sees the call held
    And the status bar shows "Ext. 1910" and "On hold 09012345678"
    When the outside caller hangs up
    Then the call has ended
    And the status bar shows "Ext. 1910" and "Ready to dial"

  Scenario: a softphone the server refuses does not claim to be ready
    Given the operator's window for extension 1910 is open in Japanese with a wrong SIP password
    Then the status bar shows "内線 1910" and "登録できません"
    And the window does not show "ダイヤルできます"
