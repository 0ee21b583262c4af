# Q-4: the window's Save writes a new file beside the old one (0600, flushed)
# and renames it over; a crash at any moment or a failed save leaves the
# old settings or the new ones whole. The window's scenarios are driven
# through egui_kittest over a real core; the crash is a real process killed
# with SIGKILL hundreds of times while it saves.
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

  # A real crash: a separate process saves the settings in a loop through
  # the product's save (softphone::settings_store::save, behind the
  # window's Save) and is killed with SIGKILL at random moments. The rule
  # for temporary files: a killed save may leave its own (0600); the next
  # save removes every one whose process is gone.
  Scenario: a save killed at random moments leaves the old or the new settings, whole and private
    Given a settings file and two versions of the settings for a process to save in turn
    When a process saving them in a loop is killed with SIGKILL at a random moment, 300 times, started again after each kill
    Then after every kill the settings file is byte for byte the old or the new version, valid settings, mode 600
    And after every kill the only other files are killed saves' temporary files, mode 600
    And some kills landed inside a save, between its temporary file and its rename
    And the next save leaves no temporary file beside the settings file

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
