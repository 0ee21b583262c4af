# Number input (UI-4): one normalisation for every door. The command line
# and links are tested here; the window's number field (paste) calls the
# same function, bb_verbs::normalize_number, when the window exists.
@UI-4
Feature: Numbers are accepted the way people write them
  Hyphens, spaces, dots, brackets and the full-width and Unicode dash forms
  are removed, full-width digits become ASCII, and a leading +, * and # are
  kept. Anything else is refused with a clear message and a non-zero exit.

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 is running
    And the desktop hands callto:, bbclient:, tel: and sip: links to the softphone of extension 1910

  Scenario Outline: the command line dials the normalised number
    When the operator at extension 1910 dials "<written>" from the command line
    Then it succeeds
    And the softphone of extension 1910 dials <number>

    Examples:
      | written                  | number         |
      | 090-1234-5678            | 09012345678    |
      | 090 1234 5678            | 09012345678    |
      | 090.1234.5678            | 09012345678    |
      | (090) 1234-5678          | 09012345678    |
      | [090]1234.5678           | 09012345678    |
      | ０９０－１２３４－５６７８ | 09012345678    |
      | 090‐1234‐5678            | 09012345678    |
      | 090―1234―5678            | 09012345678    |
      | 090ー1234ー5678          | 09012345678    |
      | 090‑1234‑5678            | 09012345678    |
      | 090–1234–5678            | 09012345678    |
      | （０９０）１２３４　５６７８ | 09012345678    |
      | +81-90-1234-5678         | +819012345678  |
      | ＋８１ ９０ １２３４ ５６７８ | +819012345678  |
      | *67 090-1234-5678        | *6709012345678 |
      | #31#090-1234-5678        | #31#09012345678 |

  Scenario Outline: a link dials the normalised number
    When the operator at extension 1910 dials "<written>" through a bbclient:call link
    Then it succeeds
    And the softphone of extension 1910 dials <number>

    Examples:
      | written                  | number         |
      | 090-1234-5678            | 09012345678    |
      | 090 1234 5678            | 09012345678    |
      | ０９０－１２３４－５６７８ | 09012345678    |
      | 090ー1234ー5678          | 09012345678    |
      | +81 (90) 1234.5678       | +819012345678  |
      | *67#090‑1234‑5678        | *67#09012345678 |

  @b2bua
  Scenario Outline: the server receives the normalised number
    When the operator at extension 1910 dials "<written>" <door>
    Then the simulator sees extension 1910 calling <number>

    Examples:
      | written                  | door                     | number        |
      | 090-1234-5678            | from the command line    | 09012345678   |
      | （０９０）１２３４－５６７８ | from the command line    | 09012345678   |
      | +81 90 1234 5678         | from the command line    | +819012345678 |
      | 090ー1234ー5678          | through a bbclient:call link | 09012345678 |
      | ０９０－１２３４－５６７８ | through a bbclient:call link | 09012345678 |

  Scenario Outline: the command line refuses what is not a number
    When the operator at extension 1910 dials "<written>" from the command line
    Then it fails with exit code 2 and the one line "<reason>"
    And the softphone of extension 1910 did nothing

    Examples:
      | written                           | reason                                        |
      | 090-1234-567x                     | 'x' at position 12 in '090-1234-567x' is not a digit |
      | 12ab                              | number refused: 'a' at position 2             |
      | 090-1234-5678 ext 12              | 'e' at position 14                            |
      | 0901234+5678                      | is only allowed at the start                  |
      | ( - )                             | has no digits                                 |
      | ーー                              | has no digits                                 |
      | 123456789012345678901234567890123 | has more than 32 digits                       |
      | ０９０－１２３４－５６７８　内線    | '内' at position 14                           |

  Scenario Outline: a link refuses what is not a number
    When the operator at extension 1910 dials "<written>" through a bbclient:call link
    Then the link is refused with the one line "<reason>"
    And the softphone of extension 1910 did nothing

    Examples:
      | written              | reason                       |
      | 090-1234-567x        | 'x' at position 12           |
      | 090-1234-5678 ext 12 | 'e' at position 14           |
      | 0901234+5678         | is only allowed at the start |
      | ( - )                | has no digits                |
