# CMD-6: the guide's example command line, split by POSIX rules here (the
# Windows rules are unit-tested in bb-cti), and run directly, never through a
# shell.
@CMD-6
Feature: Command lines are split, not given to a shell
  A command line is split into a program and its arguments once, when the
  settings are loaded; the placeholders are then substituted inside single
  arguments and the program is started directly. Nothing in it is
  interpreted by a shell.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: the guide's example, with a quoted program path holding spaces and brackets
    Given the CRM program is installed as "Program Files (x86)/testcrm/crm.exe"
    And a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = '"{dir}/Program Files (x86)/testcrm/crm.exe" %CallerNumber% %OutLineNumber%'
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "Program Files (x86)/testcrm/crm.exe" is run once with the arguments
      """
      ["09012345678", "0312345678"]
      """

  Scenario: shell syntax in a command line is passed as plain arguments
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = '''{recorder:on-ring} "a b" 'c;d' $HOME ~ *.txt "x|y" `id` $(id) ; touch {dir}/pwned && echo > {dir}/pwned2'''
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "on-ring" is run once with the arguments
      """
      ["a b", "c;d", "$HOME", "~", "*.txt", "x|y", "`id`", "$(id)", ";", "touch", "{dir}/pwned", "&&", "echo", ">", "{dir}/pwned2"]
      """
    And no file "pwned" exists
    And no file "pwned2" exists

  Scenario: a placeholder in the program name is refused at start
    When the softphone for extension 1910 is started with the settings
      """
      [command]
      on_ring = "%CallerNumber% --ring"
      """
    Then it exits with status 2 and one line on stderr naming "command.on_ring"

  Scenario: an unclosed quote is refused at start
    When the softphone for extension 1910 is started with the settings
      """
      [command]
      on_answer = '"/opt/crm/bin/crm %CallerNumber%'
      """
    Then it exits with status 2 and one line on stderr naming "command.on_answer"

  # The expected argument is worked out by hand from CMD-6 and the README:
  # network values keep only [A-Za-z0-9+*#._@-]; the softphone runs in the
  # scenario's folder, where a shell's `touch pwned` would leave its file.
  Scenario: a caller number full of shell syntax cannot become a second argument or a command
    Given a softphone for extension 1910 with the settings
      """
      [command]
      on_ring = "{recorder:on-ring} %CallerNumber%"
      """
    When a caller whose caller ID is 0901 2345;touch pwned calls extension 1910 on the outside line 0312345678
    Then "on-ring" is run once with the single argument "09012345touchpwned"
    And no file "pwned" exists
