# The shipped window: the real `bbclient run` binary with its window (not
# headless) on a virtual X display (Xvfb), driven with real mouse and key
# input (xdotool, through the X server's XTEST), registered with a real
# bluebean-sim. The other window scenarios run the window in-process; this
# smoke set proves the binary's own window is wired the same way. Where a
# button is comes from a shadow of the window kept in the harness (see
# conformance/tests/steps/xwindow.rs). Needs Debian's xvfb and xdotool
# (cargo xtask setup installs them).
Feature: The shipped window answers, hangs up and dials with real input
  The operator clicks the window's Call button to answer a ringing call and
  its Hang up button to end it; digits typed on the keyboard and Enter
  dial. The simulator sees each.

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the shipped bbclient for extension 1910 is running with its window on a virtual display

  @UI-5 @CALL-2
  Scenario: a click on Call answers a ringing call, a click on Hang up ends it
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator clicks the window's "Call" button
    Then the outside caller is talking to extension 1910
    When the operator clicks the window's "Hang up" button
    Then the simulator shows the call hung up by extension 1910

  @UI-3 @UI-5
  Scenario: digits typed on the keyboard and Enter dial the number
    When the operator types "1330" on the keyboard and presses Enter
    Then the softphone of extension 1910 dials 1330
