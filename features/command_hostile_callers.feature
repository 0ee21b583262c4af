# The hostile caller-ID corpus (Q-3, CMD-6, WEB-3). The simulator places
# each call (POST /api/calls with a raw "identity", see docs/simulator.md):
# the caller ID is the user part of From and P-Asserted-Identity,
# percent-escaped as RFC 3261 requires, and, up to 256 bytes, the From
# display name, a quoted string (" and \ escaped, control characters other
# than TAB sent as spaces, which a quoted string cannot hold).
#
# Table cells: Gherkin turns \n into a line break, \| into | and \\ into \;
# <CR>, <TAB>, <NUL> are those characters, <1KB:X> is X repeated to 1024
# bytes, {dir} is the scenario's scratch folder.
@Q-3 @CMD-6 @WEB-3
Feature: Hostile caller IDs
  Whatever the caller ID holds, the ring command gets exactly one argument
  holding only safe characters, nothing is run, the CRM gets a well-formed
  request with exactly the configured parameters, the softphone's output
  cannot be forged and the call goes on.

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 with the settings
      """
      [operator]
      login_id = "op-7"
      password = "sekret-pw"

      [web.popup]
      url = "{crm}/popup?"
      params = '''
      number=%CallerNumber%
      exten=%Exten%
      outline=%OutLineNumber%
      cid=%CallId%
      '''

      [command]
      on_ring = "{recorder:on-ring} %CallerNumber%"
      on_hangup = '''/bin/sh -c 'echo "%CallerNumber%" >> {dir}/via-shell.txt' '''
      """

  Scenario Outline: a hostile caller ID: <what>
    When a caller whose caller ID is <caller ID> calls extension 1910 on the outside line 0312345678
    Then "on-ring" is run with the caller ID filtered to the safe characters as its only argument
    And the CRM receives one well-formed request whose parameters are exactly "number, exten, outline, cid", with the caller ID as "number"
    When the caller gives up
    Then the file "via-shell.txt" holds the caller ID filtered to the safe characters
    And no file "pwned" exists
    And no line of the softphone's output was forged by the caller ID
    And the operator password "sekret-pw" appears nowhere in the softphone's output or events

    Examples:
      | what                          | caller ID                                    |
      | double quotes                 | "0901234567" <sip:evil@example.com>           |
      | single quotes                 | 090'1234'567                                 |
      | semicolon                     | 0901;touch {dir}/pwned                       |
      | ampersand and equals          | 0901&number=1&touch {dir}/pwned              |
      | pipe                          | 0901\|touch {dir}/pwned                      |
      | backticks                     | `touch {dir}/pwned`                          |
      | command substitution          | $(touch {dir}/pwned)                         |
      | variables and globs           | ${HOME}$PATH*?[a]~                           |
      | percent signs                 | %41%2F%zz%                                   |
      | placeholders                  | %CallerNumber%%OpPW%%Exten%                  |
      | spaces                        | 0901 2345 6789                               |
      | leading and trailing blanks   | <TAB> 09012345678 <TAB>                      |
      | option-like                   | --config=/etc/passwd -rf                     |
      | line feed forging a log line  | 0901\nbbclient: hook: FORGED                 |
      | CR LF forging a SIP header    | 0901<CR>\nX-Injected: 1                      |
      | NUL byte                      | 0901<NUL>2345                                |
      | non-ASCII                     | 山田太郎０９０１                              |
      | bidirectional override        | ‮1090‬                                   |
      | backslashes                   | 0901\\\\x00\\n                              |
      | 1 KB of digits                | <1KB:9>                                      |
      | 1 KB of shell syntax          | <1KB:$(touch {dir}/pwned);>                  |
      | 1 KB of non-ASCII             | <1KB:田>                                      |
