# WEB-6 (and CMD-5): "do nothing on internal calls". Every call here comes
# through the simulator's B2BUA as BlueBean delivers it: a colleague's
# softphone dials with `bbclient call`, and the simulator sends the caller's
# extension (From with its display name, P-Asserted-Identity) and no outside
# line (no P-Called-Party-ID); calls from outside name the company line they
# came in on, whichever way they reach the extension.
#
# The rule (README, "Internal calls"; bb-cti's InternalCallRule): a call is
# internal when no outside line was called and the caller number is 2 to 8
# digits not starting with 0 (0 is the outside-line access digit, so public
# numbers start with 0 or +). The "hooks" column is written from that rule;
# the "kind" column is what the simulator's call view says, and the two must
# agree (internal exactly when the hooks are skipped).
@WEB-6
Feature: No web integration on internal calls
  With "do nothing on internal calls" checked, an extension-to-extension call
  sends no popup request and opens no detail view; outside calls still do.

  Scenario: an internal call sends no popup request and opens no browser
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = true

      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"

      [web.detail]
      url = "{crm}/detail"
      params = "number=%CallerNumber%"
      open_browser_on_ring = true
      browser = "{recorder:browser}"
      """
    And a softphone for extension 1911 is running
    When extension 1911 calls extension 1910
    Then the softphone of extension 1910 reports the popup hook of that call as skipped with "internal call"
    And the softphone of extension 1910 reports the details hook of that call as skipped with "internal call"
    And the CRM receives no request
    And "browser" is not run

  Scenario: with the box unchecked an internal call sends the popup request
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = false

      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      """
    And a softphone for extension 1911 is running
    When extension 1911 calls extension 1910
    Then the CRM receives exactly this request
      """
      GET /popup?number=1911&outline=
      """

  Scenario: an outside caller whose number looks like an extension is not internal
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = true

      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      """
    When an outside caller 1234 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      GET /popup?number=1234&outline=0312345678
      """

  @CMD-5
  Scenario: skipping web integration leaves command integration alone
    Given the BlueBean simulator and a mock CRM are running
    And a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = true

      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"

      [command]
      skip_internal = false
      on_ring = "{recorder:on-ring} ring %CallerNumber% [%OutLineNumber%]"
      """
    And a softphone for extension 1911 is running
    When extension 1911 calls extension 1910
    Then "on-ring" is run once with the arguments
      """
      ["ring", "1911", "[]"]
      """
    And the softphone of extension 1910 reports the popup hook of that call as skipped
    And the CRM receives no request

  @CMD-5
  Scenario Outline: the hooks run or not by the internal-call rule, and the simulator agrees (<call>, from <caller>)
    Given the BlueBean simulator runs the tenant "../fixtures/sim/tenants/internal_calls.toml"
    And a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = true

      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''

      [command]
      skip_internal = true
      on_ring = "{recorder:on-ring} ring %CallerNumber% [%OutLineNumber%]"
      """
    And a softphone for extension 1911 is running
    And a softphone for extension 200100 is running
    When "<call>" rings extension 1910 from <caller>
    Then the simulator named the outside line <line> to extension 1910
    And extension 1910 <hooks> the hooks of that call
    And the simulator counts that call as <kind>, which the softphone <hooks>

    Examples:
      | call                                                   | caller      | line       | hooks | kind     |
      | an extension dials it                                  | 1911        | none       | skips | internal |
      | an extension dials it                                  | 200100      | none       | skips | internal |
      | an extension dials its outside line                    | 1911        | none       | skips | internal |
      | a consultation call before a transfer                  | 1911        | none       | skips | internal |
      | an outside caller dials its outside line               | 09012345678 | 0312345678 | runs  | inbound  |
      | an outside caller dials its outside line               | 1234        | 0312345678 | runs  | inbound  |
      | an extension blind-transfers an outside caller         | 1234        | 0312345679 | runs  | inbound  |
      | an extension holds an outside caller, then transfers it | 1234       | 0312345679 | runs  | inbound  |
      | an extension completes a transfer while it rings       | 1234        | 0312345679 | runs  | inbound  |
      | the ACD queue offers a call                            | 1234        | 0312345680 | runs  | inbound  |
      | the dialler connects a campaign call                   | 0801110001  | 0312345680 | runs  | campaign |
