# CMD-1..CMD-4: the command lines run on ring, answer and hang-up, with the
# placeholders substituted. Each program is an argv recorder: it writes down
# the exact argument vector it was started with.
Feature: Command integration on ring, answer and hang-up
  The softphone runs the command line of the Command integration tab when a
  call comes in, when it is answered and when it is hung up, with the call's
  values in place of the placeholders, each inside its own argument.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  @CMD-1 @CMD-2 @CMD-3
  Scenario: ring, answer and hang-up commands run with the call's values
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = "{recorder:on-ring} ring %CallerNumber% %OutLineNumber%"
      on_answer = "{recorder:on-answer} answer %CallerNumber%"
      on_hangup = "{recorder:on-hangup} hangup %CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "on-ring" is run once with the arguments
      """
      ["ring", "09012345678", "0312345678"]
      """
    And the softphone reports the command_ring hook as ok
    And "on-answer" is not run
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And "on-answer" is run once with the arguments
      """
      ["answer", "09012345678"]
      """
    And the softphone reports the command_answer hook as ok
    And "on-hangup" is not run
    When the outside caller hangs up
    Then the call has ended
    And "on-hangup" is run once with the arguments
      """
      ["hangup", "09012345678"]
      """
    And the softphone reports the command_ring hook as ok with "exit code 0"
    And the softphone reports the command_hangup hook as ok

  @CMD-3
  Scenario: the hang-up command runs when the operator hangs up
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_hangup = "{recorder:on-hangup} hangup %CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the operator runs "bbclient hangup"
    Then the call has ended
    And "on-hangup" is run once with the arguments
      """
      ["hangup", "09012345678"]
      """

  @CMD-1 @CMD-3
  Scenario: a call the caller gives up on runs the ring and hang-up commands, not the answer command
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = "{recorder:on-ring} ring"
      on_answer = "{recorder:on-answer} answer"
      on_hangup = "{recorder:on-hangup} hangup"
      """
    When a caller whose caller ID is 09012345678 calls extension 1910 on the outside line 0312345678
    Then "on-ring" is run once with the arguments
      """
      ["ring"]
      """
    When the caller gives up
    Then the softphone's output says "hung up: caller_cancelled"
    And "on-hangup" is run once with the arguments
      """
      ["hangup"]
      """
    And the softphone reports the command_hangup hook as ok
    And "on-answer" is not run

  @CMD-1
  Scenario: a command that fails is reported and changes nothing else
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = "{recorder:on-ring} --rec-exit=3 ring"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the softphone reports the command_ring hook as failed with "exit code 3"
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910

  @CMD-1
  Scenario: a program that does not exist is reported and changes nothing else
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = "{dir}/no/such/crm.exe %CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the softphone reports the command_ring hook as failed with "cannot start"
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910

  @CMD-4 @WEB-2
  Scenario: all six placeholders in a command line
    Given a softphone for extension 1910 with the settings
      """
      [operator]
      login_id = "op-7"
      password = "pw 7&x"

      [command]
      on_ring = "{recorder:on-ring} %CallerNumber% %Exten% %OutLineNumber% %CallId% %OpId% %OpPW%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "on-ring" is run once with the arguments
      """
      ["09012345678", "1910", "0312345678", "{call_id}", "op-7", "pw 7&x"]
      """

  @CMD-4
  Scenario: placeholders inside longer arguments stay inside them
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = '{recorder:on-ring} --number=%CallerNumber% "line %OutLineNumber% / ext %Exten%" %Exten%%Exten%'
      """
    When an outside caller +81312345678 calls the outside line 0312345678
    Then the softphone rings
    And "on-ring" is run once with the arguments
      """
      ["--number=+81312345678", "line 0312345678 / ext 1910", "19101910"]
      """
