# Q-1 and Q-2 for command integration: a hung command holds up nothing, has
# a time limit, and the hooks of one call start in order even when an
# earlier one is slow. Q-2 orders the ring, answer and hang-up hooks; the
# order of the hooks of one event among themselves (popup request, detail
# view, ring command) is no requirement and is not checked.
Feature: Slow and hung commands never hold up a call
  Commands run beside the call. Ring, answer and hang-up hooks start in that
  order, each as soon as its event happens, whatever the earlier ones are
  still doing; a command that hangs is stopped at its time limit.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  @Q-1 @CMD-1
  Scenario: a hung ring command
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = "{recorder:hung} --rec-sleep-ms=45000 %CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "hung" is started with the arguments
      """
      ["--rec-sleep-ms=45000", "09012345678"]
      """
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the outside caller hangs up
    Then the call has ended
    And the "ring command" hook was still running when the call ended

  # The hung command started a child of its own (a script's grandchild):
  # the time limit ends the command's whole process group.
  @Q-1 @CMD-1
  Scenario: a hung command is stopped at its 30 s time limit, with what it started
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = "{recorder:hung} --rec-child --rec-sleep-ms=45000 %CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "hung" is started with the arguments
      """
      ["--rec-child", "--rec-sleep-ms=45000", "09012345678"]
      """
    And "hung-child" is started with the arguments
      """
      ["--rec-sleep-ms=45000"]
      """
    And within 40 s the softphone reports the command_ring hook as timed_out
    And the softphone's output says "ring command #1 timed out after 30000 ms"
    And "hung" is run once with the arguments
      """
      ["--rec-child", "--rec-sleep-ms=45000", "09012345678"]
      """
    And the process of "hung" is no longer running
    And the process of "hung-child" is no longer running

  # Not only signalling: the call's audio flows both ways while a ring and
  # an answer command hang. Each side speaks its own tone and each direction
  # is checked on what arrived; the hang-up comes after both tones were
  # heard, and both commands were still running then.
  @Q-1 @CMD-1 @CMD-2
  Scenario: audio flows both ways while the ring and answer commands hang
    Given the file "voice-1910.wav" holds a 1000 Hz tone
    And a softphone for extension 1910 with the settings
      """
      [audio]
      input_wav = "{dir}/voice-1910.wav"
      output_wav = "{dir}/heard-1910.wav"

      [command]
      on_ring = "{recorder:hung-ring} --rec-sleep-ms=45000 ring"
      on_answer = "{recorder:hung-answer} --rec-sleep-ms=45000 answer"
      """
    When an outside caller 09012345678 speaking a 620 Hz tone calls the outside line 0312345678
    Then the softphone rings
    And "hung-ring" is started with the arguments
      """
      ["--rec-sleep-ms=45000", "ring"]
      """
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And "hung-answer" is started with the arguments
      """
      ["--rec-sleep-ms=45000", "answer"]
      """
    And while the "ring command" hook is still running, the outside party hears a 1000 Hz tone from extension 1910 and extension 1910 hears a 620 Hz tone
    When the outside caller hangs up
    Then the call has ended
    And the "ring command" hook was still running when the call ended
    And the "answer command" hook was still running when the call ended

  @Q-2 @CMD-1 @CMD-2 @CMD-3
  Scenario: ring, answer and hang-up hooks start in order while the ring hooks are still busy
    Given the mock CRM answers only after 20000 ms
    And a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"

      [command]
      on_ring = "{recorder:on-ring} --rec-sleep-ms=20000 ring"
      on_answer = "{recorder:on-answer} answer"
      on_hangup = "{recorder:on-hangup} hangup"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the outside caller hangs up
    Then the call has ended
    And "on-hangup" is run once with the arguments
      """
      ["hangup"]
      """
    And "on-answer" is run once with the arguments
      """
      ["answer"]
      """
    And the hooks started in this order
      """
      ring command
      answer command
      hang-up command
      """
    And the "ring command" hook was still running when the call ended
    And the "popup request" hook was still running when the call ended
