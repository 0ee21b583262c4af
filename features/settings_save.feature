# Q-4: the window's Save writes a new file beside the old one (0600, flushed)
# and renames it over; a crash before the rename or a failed save leaves the
# old settings whole. Driven through egui_kittest over a real core; the
# settings are then read by a real bbclient process.
@Q-4
Feature: Settings survive a crash during save and are readable by their owner alone

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: saving makes a world-readable settings file private
    Given the operator's window for extension 1910 is open in English
    And the settings file is readable by everyone
    When the operator clicks "Settings" in the window
    And the operator clicks "Command integration" in the window
    And the operator types "/bin/true %CallerNumber%" into the window's "On ring" field
    And the operator clicks "Save" in the window
    Then the window shows "Saved: "
    And the settings file has command.on_ring = "/bin/true %CallerNumber%"
    And the settings file can be read and written by its owner alone
    And no temporary file of the save is left beside the settings file

  Scenario: a save killed before its rename leaves the settings whole
    Given the operator's window for extension 1910 is open in English
    And an earlier save was killed before its rename, leaving a half-written temporary file
    And the settings file is noted as it is now
    When the operator's window is closed
    And a softphone for extension 1910 is started from the window's settings file
    Then the simulator lists extension 1910 as registered
    And the settings file is unchanged

  Scenario: a save that fails leaves the old settings whole
    Given the operator's window for extension 1910 is open in English
    And the settings file is noted as it is now
    And the settings file's folder cannot be written to
    When the operator clicks "Settings" in the window
    And the operator clicks "Command integration" in the window
    And the operator types "/bin/true %CallerNumber%" into the window's "On ring" field
    And the operator clicks "Save" in the window
    Then the window shows "Could not save: "
    And the settings file is unchanged
    And no temporary file of the save is left beside the settings file
    And the settings file's folder can be written to again
