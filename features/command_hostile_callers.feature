# The hostile caller-ID corpus (Q-3, CMD-6, WEB-3). The simulator places
# each call (POST /api/calls with a raw "identity", see docs/simulator.md):
# the caller ID is the user part of From and P-Asserted-Identity,
# percent-escaped as RFC 3261 requires, and, up to 256 bytes, the From
# display name, a quoted string (" and \ escaped, control characters other
# than TAB sent as spaces, which a quoted string cannot hold).
#
# Table cells: Gherkin turns \n into a line break, \| into | and \\ into \;
# <CR>, <TAB>, <NUL> are those characters, <1KB:X> is X repeated to 1024
# bytes. The softphones run in the scenario's folder, so a `touch pwned` that
# any shell ran would leave the file "pwned" there.
#
# "argument" is the spec's answer, worked out by hand: CMD-6 puts the caller
# ID inside one argument; README and bb-cti's command docs restrict network
# values in commands to [A-Za-z0-9+*#._@-], every other character dropped,
# leading "-" dropped too, cut to 256 characters; the caller ID's surrounding
# blanks are trimmed first. <256:X> is X repeated to exactly 256 characters.
#
# Both softphones log at trace (everything, rsipstack's own logging
# included): 1910 is started by the harness (stdout and stderr read apart),
# 1911 by "bbclient call" (its output in RUNTIME_DIR/auto1911.log). The SIP
# and operator passwords hold a space, "!", "&" and a non-ASCII letter, so
# their raw, %XX and +-for-space forms all differ.
@Q-3 @CMD-6 @WEB-3
Feature: Hostile caller IDs
  Whatever the caller ID holds, the ring command gets exactly one argument
  holding only safe characters, nothing is run, the CRM gets a well-formed
  request with exactly the configured parameters, no line the softphone
  prints or logs can be forged, no password shows, and the call goes on.

  Background:
    Given the BlueBean simulator, with the SIP password "s1p pw&!ü" for extensions 1910 and 1911, and a mock CRM are running
    And a softphone for extension 1910 logging everything, with the settings
      """
      [operator]
      login_id = "op-7"
      password = "Zq8!pw x&yé"

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
      on_hangup = '''/bin/sh -c 'echo "%CallerNumber%" >> via-shell.txt' '''
      """
    And a softphone for extension 1911 that "bbclient call 0120486000" started on demand, logging everything, with the settings
      """
      [operator]
      login_id = "op-7"
      password = "Zq8!pw x&yé"

      [web.popup]
      url = "{crm}/popup?"
      params = '''
      number=%CallerNumber%
      exten=%Exten%
      outline=%OutLineNumber%
      cid=%CallId%
      '''

      [command]
      on_ring = "{recorder:on-ring-1911} %CallerNumber%"
      on_hangup = '''/bin/sh -c 'echo "%CallerNumber%" >> via-shell-1911.txt' '''
      """

  Scenario Outline: a hostile caller ID: <what>
    When a caller whose caller ID is <caller ID> calls extension 1910 on the outside line 0312345678
    Then "on-ring" is run once with the single argument "<argument>"
    And the CRM receives one well-formed request whose parameters are exactly "number, exten, outline, cid", with the caller ID, without its surrounding blanks, as "number"
    When the operator asks extension 1910 for its status while it rings
    And the caller gives up
    Then the softphone reports the command_hangup hook as ok
    And the file "via-shell.txt" holds the single line "<argument>"
    When the CRM's requests are cleared
    And the same caller calls extension 1911 on the outside line 0312345679
    Then "on-ring-1911" is run once with the single argument "<argument>"
    And the CRM receives one well-formed request whose parameters are exactly "number, exten, outline, cid", with the caller ID, without its surrounding blanks, as "number"
    When the caller gives up
    Then the softphone of extension 1911 reports the command_hangup hook as ok
    And the file "via-shell-1911.txt" holds the single line "<argument>"
    And no file "pwned" exists
    And no line that the softphones printed or logged was forged by the caller ID
    And the passwords "s1p pw&!ü" and "Zq8!pw x&yé" appear nowhere in what the softphones printed, logged or sent as events

    Examples:
      | what                         | caller ID                           | argument                      |
      | double quotes                | "0901234567" <sip:evil@example.com> | 0901234567sipevil@example.com |
      | single quotes                | 090'1234'567                        | 0901234567                    |
      | semicolon                    | 0901;touch pwned                    | 0901touchpwned                |
      | ampersand and equals         | 0901&number=1&touch pwned           | 0901number1touchpwned         |
      | pipe                         | 0901\|touch pwned                   | 0901touchpwned                |
      | backticks                    | `touch pwned`                       | touchpwned                    |
      | command substitution         | $(touch pwned)                      | touchpwned                    |
      | variables and globs          | ${HOME}$PATH*?[a]~                  | HOMEPATH*a                    |
      | percent signs                | %41%2F%zz%                          | 412Fzz                        |
      | placeholders                 | %CallerNumber%%OpPW%%Exten%         | CallerNumberOpPWExten         |
      | spaces                       | 0901 2345 6789                      | 090123456789                  |
      | leading and trailing blanks  | <TAB> 09012345678 <TAB>             | 09012345678                   |
      | option-like                  | --config=/etc/passwd -rf            | configetcpasswd-rf            |
      | line feed forging a log line | 0901\nbbclient: hook: FORGED        | 0901bbclienthookFORGED        |
      | CR LF forging a SIP header   | 0901<CR>\nX-Injected: 1             | 0901X-Injected1               |
      | NUL byte                     | 0901<NUL>2345                       | 09012345                      |
      | non-ASCII                    | 山田太郎０９０１                    |                               |
      | bidirectional override       | ‮1090‬                                | 1090                          |
      | backslashes                  | 0901\\\\x00\\n                      | 0901x00n                      |
      | 1 KB of digits               | <1KB:9>                             | <256:9>                       |
      | 1 KB of shell syntax         | <1KB:$(touch pwned);>               | <256:touchpwned>              |
      | 1 KB of non-ASCII            | <1KB:田>                            |                               |
